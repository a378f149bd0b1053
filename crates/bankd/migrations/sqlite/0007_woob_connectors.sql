-- The connector id of each woob module bankd has offered: kept, so that a module keeps its id across
-- restarts and when other modules come and go (connections refer to connectors by id). Never deleted:
-- an id is not given to another module.
CREATE TABLE woob_connectors (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,   -- the connector's id is 100000 + seq
    module TEXT NOT NULL UNIQUE
);

-- Module health reads the last 24 hours of sync logs per connector.
CREATE INDEX connection_logs_connector ON connection_logs(id_connector, started);
