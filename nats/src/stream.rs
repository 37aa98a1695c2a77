//! Names and definitions of the JetStream objects, filled from the prefix.

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream};

const STREAM_DEFINITION: &str = include_str!("../definitions/stream.json");
const CONSUMER_DEFINITION: &str = include_str!("../definitions/projector-consumer.json");
const VIEWS_STREAM_DEFINITION: &str = include_str!("../definitions/views-stream.json");
const RECORDER_DEFINITION: &str = include_str!("../definitions/view-recorder-consumer.json");
const AUDIT_HEADS_DEFINITION: &str = include_str!("../definitions/audit-heads-stream.json");

/// Every name derived from `COMICS_NATS_PREFIX`.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    /// How many copies of each stream a NATS cluster keeps
    /// (`COMICS_NATS_REPLICAS`; consumers follow their stream).
    pub replicas: usize,
}

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            replicas: 1,
        }
    }

    /// The same names, for streams kept in `replicas` copies.
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// `<PREFIX>_EVENTS` (a stream name may not contain `.`; `-` becomes `_`).
    pub fn stream(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase().replace('-', "_"))
    }

    /// `<prefix>.events.<aggregate_type>.<aggregate_id>`
    pub fn subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("{}.events.{aggregate_type}.{aggregate_id}", self.prefix)
    }

    /// The aggregate type an events subject names (None: not one of ours).
    pub fn event_type_of<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".events.")?
            .split('.')
            .next()
    }

    /// `<PREFIX>_VIEWS`: accepted views awaiting the recorder.
    pub fn views_stream(&self) -> String {
        format!("{}_VIEWS", self.prefix.to_uppercase().replace('-', "_"))
    }

    /// `<prefix>.views.batch`: a batch of accepted views, of any comics.
    pub fn views_batch_subject(&self) -> String {
        format!("{}.views.batch", self.prefix)
    }

    pub fn views_stream_config(&self) -> anyhow::Result<stream::Config> {
        let config: stream::Config = serde_json::from_str(&self.fill(VIEWS_STREAM_DEFINITION, ""))
            .context("nats/definitions/views-stream.json is not a stream config")?;
        Ok(self.replicated(config))
    }

    fn replicated(&self, config: stream::Config) -> stream::Config {
        stream::Config {
            num_replicas: self.replicas,
            ..config
        }
    }

    /// The view recorder's durable consumer, starting at `start_sequence`.
    pub fn recorder_consumer(&self, start_sequence: u64) -> anyhow::Result<pull::Config> {
        let mut config: pull::Config = serde_json::from_str(&self.fill(RECORDER_DEFINITION, ""))
            .context("nats/definitions/view-recorder-consumer.json is not a consumer config")?;
        config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start_sequence.max(1),
        };
        Ok(config)
    }

    /// `<PREFIX>_AUDIT_HEADS`: the audit chain's published heads.
    pub fn audit_heads_stream(&self) -> String {
        format!(
            "{}_AUDIT_HEADS",
            self.prefix.to_uppercase().replace('-', "_")
        )
    }

    /// `<prefix>.audit.heads`
    pub fn audit_heads_subject(&self) -> String {
        format!("{}.audit.heads", self.prefix)
    }

    pub fn audit_heads_stream_config(&self) -> anyhow::Result<stream::Config> {
        let config: stream::Config =
            serde_json::from_str(&self.fill(AUDIT_HEADS_DEFINITION, ""))
                .context("nats/definitions/audit-heads-stream.json is not a stream config")?;
        Ok(self.replicated(config))
    }

    fn fill(&self, template: &str, name: &str) -> String {
        template
            .replace("{PREFIX}", &self.prefix.to_uppercase().replace('-', "_"))
            .replace("{prefix}", &self.prefix)
            .replace("{name}", name)
    }

    pub fn stream_config(&self) -> anyhow::Result<stream::Config> {
        let config: stream::Config = serde_json::from_str(&self.fill(STREAM_DEFINITION, ""))
            .context("nats/definitions/stream.json is not a stream config")?;
        Ok(self.replicated(config))
    }

    /// The projector's durable consumer, starting at `start_sequence`.
    pub fn projector_consumer(
        &self,
        name: &str,
        start_sequence: u64,
    ) -> anyhow::Result<pull::Config> {
        let mut config: pull::Config = serde_json::from_str(&self.fill(CONSUMER_DEFINITION, name))
            .context("nats/definitions/projector-consumer.json is not a consumer config")?;
        config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start_sequence.max(1),
        };
        Ok(config)
    }
}

/// Creates the events stream, or brings an existing one to the definition.
pub async fn ensure_stream(
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<stream::Stream> {
    ensure(js, names.stream_config()?).await
}

/// Creates the audit heads stream, or brings an existing one to the definition.
pub async fn ensure_audit_heads_stream(
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<stream::Stream> {
    ensure(js, names.audit_heads_stream_config()?).await
}

/// Creates the views stream, or brings an existing one to the definition.
pub async fn ensure_views_stream(
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<stream::Stream> {
    ensure(js, names.views_stream_config()?).await
}

async fn ensure(js: &jetstream::Context, config: stream::Config) -> anyhow::Result<stream::Stream> {
    match js.get_stream(&config.name).await {
        Ok(_) => {
            js.update_stream(&config)
                .await
                .with_context(|| format!("cannot update stream {}", config.name))?;
        }
        Err(_) => {
            js.get_or_create_stream(config.clone())
                .await
                .with_context(|| format!("cannot create stream {}", config.name))?;
        }
    }
    js.get_stream(&config.name)
        .await
        .with_context(|| format!("cannot open stream {}", config.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse_and_carry_the_prefix() {
        let names = Names::new("test-a1");
        let stream = names.stream_config().unwrap();
        assert_eq!(stream.name, "TEST_A1_EVENTS");
        assert_eq!(stream.subjects, vec!["test-a1.events.>".to_string()]);
        let consumer = names.projector_consumer("catalog", 7).unwrap();
        assert_eq!(consumer.durable_name.as_deref(), Some("catalog"));
        assert_eq!(consumer.filter_subject, "test-a1.events.>");
        assert_eq!(names.subject("Comic", "x"), "test-a1.events.Comic.x");
        let views = names.views_stream_config().unwrap();
        assert_eq!(views.name, "TEST_A1_VIEWS");
        assert_eq!(
            names.event_type_of(&names.subject("Rating", "r-1")),
            Some("Rating")
        );
        assert_eq!(names.event_type_of("other.events.Rating.r-1"), None);
        let heads = names.audit_heads_stream_config().unwrap();
        assert_eq!(heads.name, "TEST_A1_AUDIT_HEADS");
        assert!(heads.deny_delete && heads.deny_purge && !heads.allow_rollup);
        assert_eq!(heads.subjects, vec![names.audit_heads_subject()]);
        assert_eq!(views.duplicate_window, std::time::Duration::from_secs(120));
        assert_eq!(
            names.recorder_consumer(3).unwrap().filter_subject,
            "test-a1.views.>"
        );
    }
}
