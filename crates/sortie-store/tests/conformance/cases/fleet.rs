//! Instances (one per job attempt), runner registrations, pools.

use super::new_job;
use crate::Harness;
use sortie_store::{
    InstanceFilter, InstanceState, NewInstance, NewRegistration, Pool, RegistrationState,
    StoreError,
};
use std::collections::BTreeSet;

fn instance(job: sortie_store::JobId, provider_id: &str, attempt: u32) -> NewInstance {
    NewInstance {
        job,
        provider: "ec2".into(),
        provider_id: provider_id.into(),
        attempt,
        state: InstanceState::Pending,
    }
}

pub async fn instances_one_per_attempt(h: Harness) {
    let s = &h.store;
    let j1 = s.create_job(&new_job(1)).await.unwrap().into_job().id;
    let j2 = s.create_job(&new_job(2)).await.unwrap().into_job().id;
    let first = s.record_instance(&instance(j1, "i-1", 1)).await.unwrap();
    assert_eq!(
        (first.job, first.attempt, first.state),
        (j1, 1, InstanceState::Pending)
    );
    // Recording the same machine again (a retried call) is idempotent.
    assert_eq!(
        s.record_instance(&instance(j1, "i-1", 1)).await.unwrap(),
        first
    );
    // A second machine for the same attempt is refused: invariant 2 of DESIGN.md.
    let err = s
        .record_instance(&instance(j1, "i-2", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InstanceConflict { existing, .. } if existing == "ec2/i-1"),
        "{err}"
    );
    let retry = s.record_instance(&instance(j1, "i-3", 2)).await.unwrap();
    let other = s.record_instance(&instance(j2, "i-4", 1)).await.unwrap();

    let running = s
        .set_instance_state(first.id, InstanceState::Running)
        .await
        .unwrap();
    assert_eq!(running.state, InstanceState::Running);
    let ids =
        |v: Vec<sortie_store::Instance>| v.into_iter().map(|i| i.provider_id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_instances(InstanceFilter::default()).await.unwrap()),
        ["i-1", "i-3", "i-4"]
    );
    assert_eq!(
        ids(s
            .list_instances(InstanceFilter {
                job: Some(j1),
                state: None
            })
            .await
            .unwrap()),
        ["i-1", "i-3"]
    );
    let pending = InstanceFilter {
        state: Some(InstanceState::Pending),
        job: None,
    };
    assert_eq!(
        ids(s.list_instances(pending).await.unwrap()),
        ["i-3", "i-4"]
    );
    assert_eq!(s.find_instance("ec2", "i-4").await.unwrap(), Some(other));
    assert_eq!(s.find_instance("k8s", "i-4").await.unwrap(), None);
    assert_eq!(retry.attempt, 2);
    let missing = s
        .set_instance_state(sortie_store::InstanceId(999), InstanceState::Running)
        .await;
    assert!(matches!(missing, Err(StoreError::InstanceNotFound(_))));
}

pub async fn registrations(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    let new = NewRegistration {
        job: job.id,
        runner_id: Some(77),
        name: job.key.runner_name(1),
        state: RegistrationState::Registered,
    };
    let reg = s.record_registration(&new).await.unwrap();
    assert_eq!(
        (reg.runner_id, reg.state, reg.created_at),
        (Some(77), RegistrationState::Registered, h.clock_now())
    );
    assert_eq!(
        s.record_registration(&new).await.unwrap(),
        reg,
        "same name: same record"
    );
    let other = NewRegistration {
        runner_id: None,
        name: job.key.runner_name(2),
        ..new.clone()
    };
    let second = s.record_registration(&other).await.unwrap();
    s.set_registration_state(reg.id, RegistrationState::Spent)
        .await
        .unwrap();
    let spent = s
        .list_registrations(Some(RegistrationState::Spent))
        .await
        .unwrap();
    assert_eq!(spent.iter().map(|r| r.id).collect::<Vec<_>>(), [reg.id]);
    assert_eq!(s.list_registrations(None).await.unwrap().len(), 2);
    assert!(s.delete_registration(reg.id).await.unwrap());
    assert!(!s.delete_registration(reg.id).await.unwrap());
    assert_eq!(s.list_registrations(None).await.unwrap(), [second]);
}

pub async fn pools_crud(h: Harness) {
    let s = &h.store;
    let labels: BTreeSet<String> = ["linux", "sortie=cpu=4"]
        .into_iter()
        .map(String::from)
        .collect();
    let mut pool = Pool {
        name: "small".into(),
        labels,
        hot: 2,
        stopped: 5,
    };
    s.put_pool(&pool).await.unwrap();
    assert_eq!(s.get_pool("small").await.unwrap().as_ref(), Some(&pool));
    pool.hot = 0;
    s.put_pool(&pool).await.unwrap();
    s.put_pool(&Pool {
        name: "big".into(),
        labels: BTreeSet::new(),
        hot: 1,
        stopped: 0,
    })
    .await
    .unwrap();
    let names: Vec<_> = s
        .list_pools()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.hot))
        .collect();
    assert_eq!(names, [("big".to_string(), 1), ("small".to_string(), 0)]);
    assert!(s.delete_pool("small").await.unwrap());
    assert!(!s.delete_pool("small").await.unwrap());
    assert_eq!(s.get_pool("small").await.unwrap(), None);
}
