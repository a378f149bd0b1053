//! What bankd keeps about woob's modules: the connector id given to each (so that a module keeps
//! its id across restarts and as other modules come and go), and how its syncs went lately.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreResult, on_db};

/// The first connector id of woob's modules is `WOOB_FIRST_ID` + 1.
const WOOB_FIRST_ID: i64 = 100_000;

/// How a connector's syncs went in a period: of the users who synced it, how many saw their last
/// sync end in `bug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorHealth {
    pub id_connector: i64,
    pub users: i64,
    pub broken: i64,
}

impl ConnectorHealth {
    /// Most of its users are failing: the bank most likely changed its site, which breaks the module
    /// for everyone at once. A connector with fewer than three users is not judged.
    pub fn is_broken(&self) -> bool {
        self.users >= 3 && self.broken * 2 > self.users
    }
}

impl Store {
    /// The connector id of each of these modules, giving new ones the next ids. Safe from several
    /// processes at once: a module is inserted once, whoever comes first.
    pub async fn woob_connector_ids(&self, modules: &[String]) -> StoreResult<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = on_db!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            for module in modules {
                sqlx::query("INSERT INTO woob_connectors (module) VALUES ($1) ON CONFLICT (module) DO NOTHING")
                    .bind(module)
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = sqlx::query_as("SELECT module, seq FROM woob_connectors").fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        });
        Ok(rows.into_iter().map(|(module, seq)| (module, WOOB_FIRST_ID + seq)).collect())
    }

    /// Per connector synced since `since`: its users, and those whose last sync ended in `bug`.
    pub async fn connector_health(&self, since: DateTime<Utc>) -> StoreResult<Vec<ConnectorHealth>> {
        let rows: Vec<(i64, i64, i64)> = on_db!(&self.db, pool =>
            sqlx::query_as(
                "SELECT l.id_connector, COUNT(*), SUM(CASE WHEN l.state = 'bug' THEN 1 ELSE 0 END)
                 FROM connection_logs l
                 JOIN (SELECT MAX(id) AS id FROM connection_logs WHERE started >= $1 GROUP BY id_connector, id_user) last
                   ON last.id = l.id
                 GROUP BY l.id_connector ORDER BY l.id_connector",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        );
        Ok(rows
            .into_iter()
            .map(|(id_connector, users, broken)| ConnectorHealth { id_connector, users, broken })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_is_broken_when_most_of_its_users_fail() {
        let health = |users, broken| ConnectorHealth { id_connector: 1, users, broken };
        assert!(!health(2, 2).is_broken(), "too few users to judge");
        assert!(health(3, 2).is_broken());
        assert!(!health(4, 2).is_broken(), "half is not most");
        assert!(health(10, 6).is_broken());
        assert!(!health(10, 0).is_broken());
    }
}
