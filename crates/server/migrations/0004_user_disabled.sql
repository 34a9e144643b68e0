-- Administration: a disabled user cannot sign in or refresh (every session ended when it was
-- disabled). NULL = enabled; otherwise when it was disabled (ms since the Unix epoch).
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
