"""An existing Apollo client library (qodev-apollo-api, from PyPI) working through Bollard.

The library hard-codes https://api.apollo.io/api/v1, so the one change is its base URL;
the key is the agent's Bollard key. Its own models parse Bollard's answers unchanged.

    pip install -r requirements.txt
    BOLLARD_URL=http://127.0.0.1:8080 BOLLARD_AGENT_KEY=bol_agent_... python search_people.py
"""

import asyncio
import os

from qodev_apollo_api import ApolloClient


async def main() -> None:
    base = os.environ.get("BOLLARD_URL", "http://127.0.0.1:8080")
    async with ApolloClient(api_key=os.environ["BOLLARD_AGENT_KEY"]) as client:
        client._client.base_url = f"{base}/api/v1"  # the only change: where Apollo is
        found = await client.search_people(person_titles=["vp sales"], per_page=3)
        total = found.get("pagination", {}).get("total_entries")
        print(f"Apollo (through Bollard) found {total} people; first page:")
        for p in found.get("people", []):
            print(f"  {p['first_name']} {p.get('last_name_obfuscated', '')}, {p.get('title')}")
        contacts = await client.search_contacts(limit=2)
        print(f"The team's contacts (Sales Agent may read them): {len(contacts.items)} on this page")
        try:
            await client.create_contact(first_name="Ada", last_name="Lovelace")
        except Exception as e:  # the library raises on a 403; Bollard's sentence is in it
            print(f"Creating a contact was refused, as the Sales Agent's grants say:\n  {e}")


if __name__ == "__main__":
    asyncio.run(main())
