//! Where each projection stands: its checkpoint and how far it lags the stream.

use async_nats::jetstream;
use comics_nats::Names;
use sqlx::PgPool;

use crate::runtime::Projector;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: &'static str,
    /// The last stream sequence applied (None: the store does not exist yet).
    pub checkpoint: Option<u64>,
    pub stream_last: u64,
}

impl ProjectionStatus {
    pub fn lag(&self) -> u64 {
        self.stream_last
            .saturating_sub(self.checkpoint.unwrap_or(0))
    }
}

pub async fn status(
    store: &PgPool,
    projector: &dyn Projector,
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<ProjectionStatus> {
    let info = projector.info();
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'checkpoint')",
    )
    .bind(info.schema)
    .fetch_one(store)
    .await?;
    let checkpoint = if exists {
        Some(crate::runtime::read_checkpoint(store, info.schema).await?)
    } else {
        None
    };
    let stream_last = match js.get_stream(names.stream()).await {
        Ok(stream) => stream.get_info().await?.state.last_sequence,
        Err(_) => 0,
    };
    Ok(ProjectionStatus {
        name: info.name,
        checkpoint,
        stream_last,
    })
}
