"""Every public method of the PyPI client `qodev-apollo-api` (pinned by tests/it/clients.rs),
called once through Bollard. The library hard-codes Apollo's address; the only change is its
base URL. Prints one JSON object per method: whether it succeeded, and the error's status and
text when it did not. The Rust test decides what each outcome means.

    python qodev_client.py BOLLARD_URL AGENT_KEY FIXTURES_JSON
"""

import asyncio
import inspect
import json
import sys
from datetime import datetime, timezone

from qodev_apollo_api import ApolloClient


async def main() -> None:
    base, key, fixtures = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    contact, account, user = fixtures["contact"], fixtures["account"], fixtures["user"]
    due = datetime(2026, 12, 24, 9, 0, tzinfo=timezone.utc)
    # Ids learnt from earlier answers, for the methods that take one.
    learnt = {"task": fixtures["task"], "message": "", "conversation": "", "deal": ""}

    def calls():
        # (method name, thunk); in an order where each id is learnt before it is used.
        c = client
        return [
            ("search_contacts", lambda: c.search_contacts(limit=5)),
            ("get_contact", lambda: c.get_contact(contact)),
            ("create_contact", lambda: c.create_contact("Ada", "Lovelace", run_dedupe=True)),
            ("update_contact", lambda: c.update_contact(contact, title="CTO")),
            ("get_contact_stages", lambda: c.get_contact_stages()),
            (
                "find_contact_by_linkedin_url",
                lambda: c.find_contact_by_linkedin_url("https://www.linkedin.com/in/nobody-here"),
            ),
            ("search_accounts", lambda: c.search_accounts(limit=5)),
            ("get_account", lambda: c.get_account(account)),
            ("search_deals", lambda: c.search_deals(limit=5)),
            ("get_deal", lambda: c.get_deal(learnt["deal"])),
            ("create_deal", lambda: c.create_deal("Sandbox renewal", amount="1000")),
            ("update_opportunity", lambda: c.update_opportunity(learnt["deal"], amount="2000")),
            ("list_pipelines", lambda: c.list_pipelines()),
            ("get_pipeline", lambda: c.get_pipeline("pipeline1")),
            ("list_pipeline_stages", lambda: c.list_pipeline_stages("pipeline1")),
            ("list_all_stages", lambda: c.list_all_stages()),
            ("list_opportunity_contact_role_types", lambda: c.list_opportunity_contact_role_types()),
            (
                "update_opportunity_roles",
                lambda: c.update_opportunity_roles(learnt["deal"], [{"contact_id": contact}]),
            ),
            ("list_custom_fields", lambda: c.list_custom_fields()),
            ("enrich_organization", lambda: c.enrich_organization("example.com")),
            ("enrich_person", lambda: c.enrich_person("nobody@example.com")),
            ("search_people", lambda: c.search_people(per_page=2)),
            ("search_notes", lambda: c.search_notes()),
            ("get_note", lambda: c.get_note("note1")),
            ("create_note", lambda: c.create_note("Called, left a voicemail.", contact_ids=[contact])),
            ("delete_note", lambda: c.delete_note("note1")),
            ("search_calls", lambda: c.search_calls()),
            ("search_tasks", lambda: c.search_tasks()),
            ("search_emails", lambda: c.search_emails()),
            ("create_task", lambda: c.create_task([contact], user_id=user, due_at=due, status="scheduled")),
            (
                "create_linkedin_connect_request",
                lambda: c.create_linkedin_connect_request(contact, user_id=user, due_at=due),
            ),
            ("get_task", lambda: c.get_task(learnt["task"])),
            ("update_task", lambda: c.update_task(learnt["task"], priority="low")),
            ("complete_task", lambda: c.complete_task(learnt["task"], note="Done")),
            ("create_email_task", lambda: c.create_email_task([contact], "Follow up", user_id=user, due_at=due)),
            (
                "create_linkedin_connect_task",
                lambda: c.create_linkedin_connect_task(contact, "Connect", "Hello", user_id=user, due_at=due),
            ),
            (
                "create_linkedin_message_task",
                lambda: c.create_linkedin_message_task(contact, "Message", "Hello", user_id=user, due_at=due),
            ),
            ("skip_tasks", lambda: c.skip_tasks([learnt["task"]])),
            ("update_emailer_message", lambda: c.update_emailer_message(learnt["message"], subject="Hi")),
            ("send_email_task", lambda: c.send_email_task(learnt["message"])),
            ("list_contact_tasks", lambda: c.list_contact_tasks(contact)),
            ("search_calendar_events", lambda: c.search_calendar_events()),
            ("search_conversations", lambda: c.search_conversations()),
            ("get_conversation", lambda: c.get_conversation(learnt["conversation"])),
            ("list_account_jobs", lambda: c.list_account_jobs(account)),
            ("get_api_usage", lambda: c.get_api_usage()),
        ]

    out = []
    async with ApolloClient(api_key=key) as client:
        client._client.base_url = f"{base}/api/v1"  # the only change: where Apollo is
        listed = calls()
        public = {
            n
            for n, f in inspect.getmembers(ApolloClient, inspect.iscoroutinefunction)
            if not n.startswith("_")
        }
        missing = public - {n for n, _ in listed}
        if missing:
            raise SystemExit(f"methods of the client not exercised: {sorted(missing)}")
        for name, thunk in listed:
            entry = {"method": name, "ok": True}
            try:
                result = await thunk()
                raw = json.dumps(result, default=lambda o: getattr(o, "model_dump", lambda: str(o))())
                if name == "search_deals" and not learnt["deal"]:
                    learnt["deal"] = result.items[0].id
                if name == "search_emails":
                    for m in result.items:
                        if m.status == "scheduled":
                            learnt["message"] = m.id
                            break
                if name == "search_conversations" and result.items:
                    learnt["conversation"] = result.items[0].id
                entry["answer"] = raw[:200]
            except Exception as e:  # the library raises on any refusal; keep its text
                entry.update(
                    ok=False,
                    kind=type(e).__name__,
                    status=getattr(e, "status_code", None),
                    error=str(e)[:600],
                )
            out.append(entry)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
