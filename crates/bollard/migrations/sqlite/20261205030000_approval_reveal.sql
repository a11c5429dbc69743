-- Ask first (#15), reveal on request: the call's arguments with personal data in clear, sealed
-- (ChaCha20-Poly1305 under a key derived from the installation secret, bound to the request's
-- id), so that an approver can ask to see what the audit log keeps only as keyed hashes. Kept
-- only while the request waits for a decision: every change of state sets it to NULL. NULL
-- too when the arguments hold no personal data.
ALTER TABLE approvals ADD COLUMN sealed_arguments TEXT;
