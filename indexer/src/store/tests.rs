//! A step whose cursor the database lost before the step wrote: what a crash leaves when it
//! takes an acknowledged commit with it (see `claim_cursor`). Driven below `step` because the
//! loss has to land between the step's cursor read and its write, which a real crash hits only
//! now and then (`tests/faults.rs` lost 2 of 15 purchases that way in about one run in four on
//! a loaded machine).

use alloy::primitives::Address;
use alloy::providers::Provider;
use nexus_testkit::{Devnet, Postgres};

use super::Cursor;
use crate::{Config, Indexer, IndexerError, Progress};

/// An indexer caught up with a devnet, one block (an agent's registration) mined but not yet
/// indexed, an empty block after it, and `stale`: the cursor a step would have read had the
/// registration's commit been acknowledged and then lost.
struct LostCommit {
    devnet: Devnet,
    pg: Postgres,
    indexer: Indexer,
    stale: Cursor,
}

impl LostCommit {
    /// `final_blocks`: every block final (written by backfill), else unfinalized (followed).
    async fn new(final_blocks: bool) -> Self {
        let devnet = Devnet::start().await.expect("devnet");
        let pg = Postgres::start().expect("postgres");
        let url = pg.create_database("live").expect("db");
        let mut config = Config::local(devnet.deployments.clone(), devnet.rpc_url(), url);
        if final_blocks {
            config.max_reorg_depth = 0;
        }
        let mut indexer = Indexer::connect(config).await.expect("indexer");
        indexer.sync().await.expect("sync");
        devnet.register_agent(Address::repeat_byte(6), Address::ZERO, 1_000, "ipfs://x").await.expect("register");
        let registered = indexer.provider.get_block_number().await.expect("head");
        let _: String = indexer.provider.raw_request("evm_mine".into(), ()).await.expect("mine");
        let header = indexer.header(registered).await.expect("header").expect("block");
        assert_eq!(indexer.cursor().await.expect("cursor"), Some(registered - 1), "registration indexed already");
        Self { devnet, pg, indexer, stale: Cursor { number: registered, hash: header.hash } }
    }

    /// `result` is the step's refusal to write, and the indexer then ends up with the
    /// registration anyway: exactly the clean index of the same chain.
    async fn assert_recovers(mut self, result: Result<Progress, IndexerError>) {
        match result {
            Err(e @ IndexerError::CursorMoved { expected, found }) => {
                assert_eq!((expected, found), (Some(self.stale.number), Some(self.stale.number - 1)));
                assert!(e.is_retryable(), "{e}");
            }
            other => panic!("wrote over a cursor the database no longer has: {other:?}"),
        }
        let head = self.indexer.sync().await.expect("sync");
        assert_eq!(head, self.indexer.provider.get_block_number().await.expect("head"));
        let pool = self.indexer.pool();
        let agents: i64 = sqlx::query_scalar("SELECT count(*) FROM agents").fetch_one(pool).await.expect("agents");
        assert_eq!(agents, 1, "the registration in the lost commit was skipped");
        let url = self.pg.create_database("clean").expect("db");
        let mut clean = Indexer::connect(Config::local(self.devnet.deployments.clone(), self.devnet.rpc_url(), url))
            .await
            .expect("clean");
        clean.sync().await.expect("clean sync");
        let dump = |pool| async move { crate::projection_dump(pool).await.expect("dump") };
        assert_eq!(dump(pool).await, dump(clean.pool()).await);
    }
}

#[tokio::test]
async fn a_followed_block_is_not_written_over_a_lost_commit() {
    let mut lost = LostCommit::new(false).await;
    let stale = lost.stale;
    let result = lost.indexer.follow(stale.number + 1, Some(stale)).await;
    lost.assert_recovers(result).await;
}

#[tokio::test]
async fn a_backfill_batch_is_not_written_over_a_lost_commit() {
    let mut lost = LostCommit::new(true).await;
    let (stale, next) = (lost.stale, lost.stale.number + 1);
    let result = lost.indexer.backfill(next, next, next, Some(stale)).await;
    lost.assert_recovers(result).await;
}

#[tokio::test]
async fn a_rollback_does_not_start_from_a_lost_commit() {
    let mut lost = LostCommit::new(false).await;
    let result = lost.indexer.rewind(lost.stale).await;
    lost.assert_recovers(result).await;
}
