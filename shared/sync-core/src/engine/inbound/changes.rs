//! Deciding what a fetched record means against what was last synced.

use crate::domain::{
    ExternalRecord, TenantId,
    record::ChangeKind,
    sync_state::{RecordState, content_hash, raw_hash},
    time,
};

pub enum Change {
    /// New or different content: publish it, then store this state.
    Changed(ChangeKind, RecordState),
    /// Same content as last synced (or our own write coming back).
    Unchanged,
    /// The provider deleted a record we know: publish the deletion, store this tombstone.
    Deleted(RecordState),
    /// Deleted at the provider, and already a tombstone (or never known).
    AlreadyGone,
}

pub struct StateKey<'a> {
    pub tenant: TenantId,
    pub integration_id: &'a str,
    pub task_id: uuid::Uuid,
    pub correlation_id: &'a str,
    /// The integration merges against snapshots
    /// ([`keeps_snapshots`](crate::domain::sync_state::keeps_snapshots)).
    pub keep_snapshots: bool,
}

/// `state_id` is the record's [`RecordState::document_id`], which the caller
/// already computed to read the stored state.
pub fn classify(
    state_id: String,
    record: &ExternalRecord,
    known: Option<&RecordState>,
    volatile: &[&str],
    key: &StateKey,
) -> Change {
    let state = |hash: Option<String>, raw_hash, snapshot, deleted| RecordState {
        id: state_id,
        tenant_id: key.tenant,
        integration_id: key.integration_id.to_owned(),
        entity_type: record.entity_type.clone(),
        external_id: record.external_id.clone(),
        content_hash: hash,
        raw_hash,
        modified_at: record.modified_at,
        snapshot,
        deleted,
        synced_at: time::now(),
        last_task_id: key.task_id,
        shard_id: known.and_then(|k| k.shard_id.clone()),
        last_correlation_id: Some(key.correlation_id.to_owned()),
        // An outbound write's events not yet confirmed stay with the state.
        outbox: known.map(|k| k.outbox.clone()).unwrap_or_default(),
    };
    if record.deleted {
        return match known {
            Some(live) if !live.deleted => Change::Deleted(state(
                live.content_hash.clone(),
                None,
                live.snapshot.clone(),
                true,
            )),
            _ => Change::AlreadyGone,
        };
    }
    let bytes = raw_hash(&record.raw);
    let snapshot = key.keep_snapshots.then(|| record.raw.clone());
    let Some(live) = known.filter(|k| !k.deleted) else {
        // A first sight: the provider's bytes are the snapshot (if kept); its
        // content hash waits until a later read differs (most records never
        // change). Without a snapshot, that later read cannot tell a move of
        // volatile fields alone from an edit, and counts it as an update once.
        return Change::Changed(
            ChangeKind::Created,
            state(None, Some(bytes), snapshot, false),
        );
    };
    // The cheap check first: the same bytes as last time (a quiet re-sync).
    if live.raw_hash.as_ref() == Some(&bytes) {
        return Change::Unchanged;
    }
    let hash = content_hash(&record.raw, volatile);
    if live.content_hash_of(volatile).as_ref() == Some(&hash) {
        return Change::Unchanged;
    }
    Change::Changed(
        ChangeKind::Updated,
        state(Some(hash), Some(bytes), snapshot, false),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn record(text: &str) -> ExternalRecord {
        ExternalRecord {
            entity_type: "account".into(),
            external_id: "A-1".into(),
            modified_at: time::now(),
            deleted: false,
            raw: RawValue::from_string(text.to_owned()).unwrap(),
        }
    }

    fn known(text: &str) -> RecordState {
        match classify(state_id(), &record(text), None, &[], &key()) {
            Change::Changed(ChangeKind::Created, state) => state,
            _ => panic!("a first sight is a creation"),
        }
    }

    fn state_id() -> String {
        RecordState::document_id("int-1", "account", "A-1")
    }

    fn key() -> StateKey<'static> {
        StateKey {
            tenant: uuid::Uuid::nil(),
            integration_id: "int-1",
            task_id: uuid::Uuid::nil(),
            correlation_id: "c",
            keep_snapshots: true,
        }
    }

    #[test]
    fn identical_bytes_are_unchanged_without_hashing_the_content() {
        let mut state = known(r#"{"Id":"A-1","Name":"x"}"#);
        // Were the content hashed, this stored hash would not match.
        state.content_hash = Some("not-the-content-hash".into());
        let change = classify(
            state_id(),
            &record(r#"{"Id":"A-1","Name":"x"}"#),
            Some(&state),
            &[],
            &key(),
        );
        assert!(matches!(change, Change::Unchanged));
    }

    #[test]
    fn a_first_sight_keeps_the_providers_bytes_and_defers_the_content_hash() {
        let text = r#"{"Id":"A-1","LastModifiedDate":"2026-01-01","Name":"x"}"#;
        let state = known(text);
        assert_eq!(
            state.snapshot.as_deref().map(RawValue::get),
            Some(text),
            "stored verbatim"
        );
        assert!(state.content_hash.is_none(), "not hashed until needed");
        // Only a volatile field moved: the content, hashed now, is the same.
        let change = classify(
            state_id(),
            &record(r#"{"Id":"A-1","LastModifiedDate":"2026-02-02","Name":"x"}"#),
            Some(&state),
            &["LastModifiedDate"],
            &key(),
        );
        assert!(matches!(change, Change::Unchanged));
        let change = classify(
            state_id(),
            &record(r#"{"Id":"A-1","LastModifiedDate":"2026-02-02","Name":"y"}"#),
            Some(&state),
            &["LastModifiedDate"],
            &key(),
        );
        match change {
            Change::Changed(ChangeKind::Updated, next) => {
                assert!(
                    next.content_hash.is_some(),
                    "an update stores the hash it computed"
                )
            }
            _ => panic!("an edit is an update"),
        }
    }

    #[test]
    fn other_bytes_with_the_same_content_are_unchanged_by_the_content_hash() {
        let state = known(r#"{"Id":"A-1","Name":"x"}"#);
        let change = classify(
            state_id(),
            &record(r#"{"Name":"x","Id":"A-1"}"#),
            Some(&state),
            &[],
            &key(),
        );
        assert!(matches!(change, Change::Unchanged));
    }

    #[test]
    fn a_state_without_a_raw_hash_is_compared_by_content() {
        let mut state = known(r#"{"Id":"A-1","Name":"x"}"#);
        state.raw_hash = None;
        let same = classify(
            state_id(),
            &record(r#"{"Id":"A-1","Name":"x"}"#),
            Some(&state),
            &[],
            &key(),
        );
        assert!(matches!(same, Change::Unchanged));
        let edited = classify(
            state_id(),
            &record(r#"{"Id":"A-1","Name":"y"}"#),
            Some(&state),
            &[],
            &key(),
        );
        match edited {
            Change::Changed(ChangeKind::Updated, next) => {
                assert!(next.raw_hash.is_some(), "the new state remembers the bytes")
            }
            _ => panic!("an edit is an update"),
        }
    }

    #[test]
    fn without_snapshots_a_state_keeps_hashes_only_and_its_first_difference_is_an_update() {
        let key = StateKey {
            keep_snapshots: false,
            ..key()
        };
        let first = record(r#"{"Id":"A-1","LastModifiedDate":"2026-01-01","Name":"x"}"#);
        let Change::Changed(ChangeKind::Created, state) =
            classify(state_id(), &first, None, &["LastModifiedDate"], &key)
        else {
            panic!("a first sight is a creation")
        };
        assert!(state.snapshot.is_none() && state.content_hash.is_none());
        assert!(state.raw_hash.is_some());
        let again = classify(
            state_id(),
            &first,
            Some(&state),
            &["LastModifiedDate"],
            &key,
        );
        assert!(matches!(again, Change::Unchanged), "same bytes");
        // Only a volatile field moved, but nothing says what the content was:
        // an update, once, and the state now has the content hash.
        let moved = record(r#"{"Id":"A-1","LastModifiedDate":"2026-02-02","Name":"x"}"#);
        let Change::Changed(ChangeKind::Updated, next) = classify(
            state_id(),
            &moved,
            Some(&state),
            &["LastModifiedDate"],
            &key,
        ) else {
            panic!("without a hash or a snapshot, other bytes are an update")
        };
        assert!(next.snapshot.is_none() && next.content_hash.is_some());
        let moved_again = record(r#"{"Id":"A-1","LastModifiedDate":"2026-03-03","Name":"x"}"#);
        let change = classify(
            state_id(),
            &moved_again,
            Some(&next),
            &["LastModifiedDate"],
            &key,
        );
        assert!(matches!(change, Change::Unchanged), "the hash tells now");
    }
}
