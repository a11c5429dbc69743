-- OAuth housekeeping (issue 13). Connections are now announced like every other admin change
-- (config_version, and NOTIFY on PostgreSQL), so their own version table goes. The purge
-- finds what expired or was spent by these indexes.
DROP TABLE oauth_version;
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);
CREATE INDEX oauth_refresh_tokens_used ON oauth_refresh_tokens (used_at);
CREATE INDEX oauth_links_expires ON oauth_links (expires_at);
