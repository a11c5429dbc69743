-- Admin keys can be revoked: a revoked key stops working at once, sessions included.
ALTER TABLE admin_keys ADD COLUMN revoked_at INTEGER;
