-- A statement file that bends its format's standard is read where only one reading is possible;
-- its import's log row keeps what was assumed: JSON {"warnings": [{"where", "what", "assumed"}],
-- "omitted": N}, at most 100 warnings with a count of the rest. NULL for syncs and clean files.

ALTER TABLE connection_logs ADD COLUMN warnings TEXT;
