//! Opening stores: URL schemes, file creation, and the operator-facing errors.

use sortie_store::{DeliveryId, OpenOptions, StoreError};
use sqlx::{Connection, Row};
use std::time::Duration;

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = sortie_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists(), "the database file is created on open");
    store.list_pools().await.unwrap();
    drop(store);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = sortie_store::open("sqlite::memory:").await.unwrap();
    let d = sortie_store::Delivery {
        id: DeliveryId::from("m"),
        forge: sortie_core::forge::Flavor::Gitea,
        event: "push".into(),
        headers: Default::default(),
        body: b"{}".to_vec(),
        received_at: sortie_store::Timestamp::from_millis(1),
    };
    assert!(store.insert_delivery(&d).await.unwrap().is_new());
    assert!(!store.insert_delivery(&d).await.unwrap().is_new());
}

#[tokio::test]
async fn unwritable_sqlite_path_says_what_to_check() {
    let err = sortie_store::open("sqlite:///nonexistent-dir-for-sortie/x/sortie.db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("cannot open database sqlite:///nonexistent-dir-for-sortie/x/sortie.db"),
        "{text}"
    );
    assert!(text.contains("check that the directory exists"), "{text}");
}

#[tokio::test]
async fn unreachable_postgres_says_what_to_check_without_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused at once; sqlx retries until
    // the connect timeout.
    let options = OpenOptions {
        connect_timeout: Duration::from_secs(1),
        ..OpenOptions::default()
    };
    let err = sortie_store::open_with("postgres://sortie:hunter2@127.0.0.1:1/sortie", &options)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{text}");
    assert!(
        text.contains("postgres://sortie:***@127.0.0.1:1/sortie"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("check the server is running"), "{text}");
}

#[tokio::test]
async fn other_schemes_are_not_supported_yet() {
    #[cfg(not(feature = "dynamodb"))]
    {
        let err = sortie_store::open("dynamodb://sortie-jobs")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::UnsupportedScheme { scheme, .. } if scheme == "dynamodb"),
            "{err}"
        );
    }
    let err = sortie_store::migrate("mysql://root@localhost/x")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("mysql:// backend, which is not supported yet"),
        "{err}"
    );
}

/// A bad table name is refused before any AWS call, with DynamoDB's naming rule in the message.
#[cfg(feature = "dynamodb")]
#[tokio::test]
async fn bad_dynamodb_table_name_says_the_rule() {
    let err = sortie_store::open("dynamodb://x").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err}");
    assert!(err.to_string().contains("3 to 255 characters"), "{err}");
}

/// `sortie migrate` on a `dynamodb://` URL creates the table (with its indexes and TTL) through
/// the same entry point as the SQL backends, and a second run is a no-op.
#[cfg(feature = "dynamodb")]
#[tokio::test]
async fn dynamodb_migrate_creates_the_table_once() {
    let moto = tokio::task::spawn_blocking(sortie_testkit::moto::MotoServer::shared)
        .await
        .unwrap();
    let url = format!(
        "dynamodb://testing:testing@sortie-open-migrate?endpoint={}&region=us-east-1",
        moto.endpoint()
    );
    sortie_store::migrate(&url).await.unwrap();
    sortie_store::migrate(&url).await.unwrap();
    let store = sortie_store::open(&url).await.unwrap();
    assert!(store.list_pools().await.unwrap().is_empty());
}

/// An unreachable endpoint is a DynamoDB error naming what was being done, not a hang.
#[cfg(feature = "dynamodb")]
#[tokio::test]
async fn unreachable_dynamodb_says_what_to_check_without_the_secret() {
    let options = OpenOptions {
        connect_timeout: Duration::from_secs(1),
        ..OpenOptions::default()
    };
    let err = sortie_store::open_with(
        "dynamodb://id:hunter2@sortie?endpoint=http://127.0.0.1:1&region=us-east-1",
        &options,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Dynamo { .. }), "{text}");
    assert!(text.contains("describing the table"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
