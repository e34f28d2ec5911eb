//! Numbered, checksummed migrations. Each `schemas/clickhouse/NNNN_name.sql` file is compiled
//! into the binary (so an image needs no schema files), applied once in order, and recorded in
//! `rapport_migrations` with its checksum. Rerunning is safe; a migration whose file changed
//! after it was applied is refused, because the tables no longer match what the file says.

use sha2::{Digest, Sha256};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../schemas/clickhouse/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. `tests` check that this list and the folder agree.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_interactions"),
    migration!(2, "0002_processor_state"),
    migration!(3, "0003_metrics"),
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("ClickHouse request failed while {doing}")]
    ClickHouse {
        doing: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error(
        "migration {version} ({name}) was applied with checksum {applied} but the file now has \
         {current}; migrations are immutable: add a new one instead"
    )]
    Changed {
        version: u32,
        name: String,
        applied: String,
        current: String,
    },
    #[error(
        "database has migration {0} that this binary does not know; is it older than the schema?"
    )]
    Unknown(u32),
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }

    /// The statements of the file. ClickHouse's HTTP interface takes one per request; files
    /// separate them with a `;` at the end of a line.
    pub fn statements(&self) -> impl Iterator<Item = String> + '_ {
        let without_comments: String = self
            .sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        without_comments
            .split(";\n")
            .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .into_iter()
    }
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Applied {
    version: u32,
    name: String,
    checksum: String,
}

/// Apply every pending migration to `database`, creating it if needed. Returns the versions
/// applied by this call (empty when the schema was current).
pub async fn migrate(
    server: &clickhouse::Client,
    database: &str,
) -> Result<Vec<u32>, MigrateError> {
    let ch = |doing: &str| {
        let doing = doing.to_owned();
        move |source| MigrateError::ClickHouse { doing, source }
    };
    server
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_ident(database)
        ))
        .execute()
        .await
        .map_err(ch("creating the database"))?;
    let db = server.clone().with_database(database);
    db.query(
        "CREATE TABLE IF NOT EXISTS rapport_migrations (version UInt32, name String, checksum String, \
         applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
    )
    .execute()
    .await
    .map_err(ch("creating rapport_migrations"))?;
    let applied: Vec<Applied> = db
        .query("SELECT version, name, checksum FROM rapport_migrations ORDER BY version")
        .fetch_all()
        .await
        .map_err(ch("reading rapport_migrations"))?;
    for a in &applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == a.version) else {
            return Err(MigrateError::Unknown(a.version));
        };
        if m.checksum() != a.checksum {
            return Err(MigrateError::Changed {
                version: a.version,
                name: a.name.clone(),
                applied: a.checksum.clone(),
                current: m.checksum(),
            });
        }
    }
    let mut done = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
    {
        for (i, statement) in m.statements().enumerate() {
            db.query(&statement).execute().await.map_err(ch(&format!(
                "applying migration {} statement {}",
                m.name,
                i + 1
            )))?;
        }
        db.query("INSERT INTO rapport_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, now())")
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .execute()
            .await
            .map_err(ch(&format!("recording migration {}", m.name)))?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}

/// Backquote an identifier for DDL; database names come from config, not from users.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_folder_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[test]
    fn statements_split_on_line_final_semicolons_and_drop_comments() {
        let m = Migration { version: 9, name: "x", sql: "-- hi; there\nCREATE TABLE a (x String DEFAULT ';');\n\nCREATE TABLE b (y UInt8);\n" };
        let s: Vec<String> = m.statements().collect();
        assert_eq!(
            s,
            vec![
                "CREATE TABLE a (x String DEFAULT ';')",
                "CREATE TABLE b (y UInt8)"
            ]
        );
    }
}
