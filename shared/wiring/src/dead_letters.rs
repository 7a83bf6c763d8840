//! The dead-letter queue for an operator (`integration-sync dlq`): list,
//! show, replay. How nothing is lost: `bus_rabbitmq::dead_letters`. Without
//! the `rabbitmq` feature there is no broker, hence no dead-letter queue.

/// What the operator asked for.
pub enum DlqRequest {
    /// Every message (up to `limit`): id, routing key, age, reason; counts by reason.
    List { limit: usize },
    /// One message in full.
    Show { id: String, limit: usize },
    /// Selected messages back to their routing key, through `to` (default:
    /// the service's replay exchange).
    Replay {
        select: DlqSelection,
        dry_run: bool,
        to: Option<String>,
        limit: usize,
    },
}

/// Which messages a replay takes: these ids, those whose reason contains a
/// text, or all.
pub struct DlqSelection {
    pub ids: Vec<String>,
    pub reason: Option<String>,
    pub all: bool,
}

#[cfg(not(feature = "rabbitmq"))]
pub async fn run(
    _settings: &sync_core::config::Settings,
    _request: DlqRequest,
) -> anyhow::Result<()> {
    anyhow::bail!("this build has no RabbitMQ support (build with `--features cloud`)")
}

#[cfg(feature = "rabbitmq")]
pub use with_broker::run;

#[cfg(feature = "rabbitmq")]
mod with_broker {
    use std::collections::BTreeMap;

    use anyhow::{Context, bail};
    use bus_rabbitmq::dead_letters::{DeadLetter, DeadLetterSession};
    use sync_core::config::Settings;

    use super::{DlqRequest, DlqSelection};

    impl DlqSelection {
        fn matches(&self, letter: &DeadLetter) -> bool {
            if self.all {
                return true;
            }
            if let Some(text) = &self.reason {
                return letter
                    .reason
                    .as_deref()
                    .is_some_and(|reason| reason.contains(text.as_str()));
            }
            self.ids.contains(&letter.id)
        }
    }

    pub async fn run(settings: &Settings, request: DlqRequest) -> anyhow::Result<()> {
        let url =
            settings.rabbitmq.url.as_deref().context(
                "RABBITMQ_URL is not set: without a broker there is no dead-letter queue",
            )?;
        let queue = settings.rabbitmq.dead_letter_queue.clone();
        let mut session = DeadLetterSession::open(url, &settings.rabbitmq).await?;
        let outcome = match request {
            DlqRequest::List { limit } => {
                let letters = session.hold(limit).await?;
                print_list(&queue, &letters);
                Ok(())
            }
            DlqRequest::Show { id, limit } => {
                let letters = session.hold(limit).await?;
                match letters.iter().find(|l| l.id == id) {
                    Some(letter) => {
                        print_one(letter);
                        Ok(())
                    }
                    None => Err(anyhow::anyhow!("no message {id} in {queue}")),
                }
            }
            DlqRequest::Replay {
                select,
                dry_run,
                to,
                limit,
            } => {
                let letters = session.hold(limit).await?;
                let exchange = to.unwrap_or_else(|| session.replay_exchange().to_owned());
                replay(&mut session, &letters, &select, &exchange, dry_run).await
            }
        };
        // Whatever was not replayed goes back, in its place.
        session.release().await;
        outcome
    }

    async fn replay(
        session: &mut DeadLetterSession,
        letters: &[DeadLetter],
        select: &DlqSelection,
        exchange: &str,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let chosen: Vec<&DeadLetter> = letters.iter().filter(|l| select.matches(l)).collect();
        if chosen.is_empty() {
            bail!("no dead-lettered message matches ({} read)", letters.len());
        }
        let mut replayed = 0;
        for letter in &chosen {
            if dry_run {
                println!(
                    "would replay {} ({}) to {exchange}",
                    letter.id, letter.routing_key
                );
                continue;
            }
            match session.replay(letter, exchange).await {
                Ok(()) => {
                    replayed += 1;
                    println!(
                        "replayed {} ({}) to {exchange}",
                        letter.id, letter.routing_key
                    );
                }
                Err(e) => {
                    println!(
                        "replayed {replayed} of {}; {} left in the queue",
                        chosen.len(),
                        letters.len() - replayed
                    );
                    return Err(e.into());
                }
            }
        }
        if dry_run {
            println!(
                "dry run: {} would be replayed; nothing changed",
                chosen.len()
            );
        } else {
            println!(
                "replayed {replayed} of {}; {} left in the queue",
                chosen.len(),
                letters.len() - replayed
            );
        }
        Ok(())
    }

    fn print_list(queue: &str, letters: &[DeadLetter]) {
        println!("{} message(s) in {queue}", letters.len());
        if letters.is_empty() {
            return;
        }
        println!("{:<38}  {:<38}  {:>8}  REASON", "ID", "ROUTING KEY", "AGE");
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for letter in letters {
            let reason = letter.reason.clone().unwrap_or_else(|| "(none)".into());
            println!(
                "{:<38}  {:<38}  {:>8}  {}",
                letter.id,
                letter.routing_key,
                age(letter),
                shorten(&reason, 100)
            );
            *by_reason.entry(reason).or_default() += 1;
        }
        println!("by reason:");
        for (reason, count) in by_reason {
            println!("{count:>6}  {}", shorten(&reason, 120));
        }
    }

    fn print_one(letter: &DeadLetter) {
        println!("id:           {}", letter.id);
        println!("routing key:  {}", letter.routing_key);
        if let Some(kind) = &letter.event_type {
            println!("event type:   {kind}");
        }
        println!(
            "reason:       {}",
            letter.reason.as_deref().unwrap_or("(none)")
        );
        if let Some(at) = letter.dead_lettered_at {
            println!("set aside at: {} ({} ago)", at.to_rfc3339(), age(letter));
        }
        println!("headers:");
        for (key, value) in &letter.headers {
            println!("  {key}: {}", shorten(value, 200));
        }
        println!("body:");
        match serde_json::from_slice::<serde_json::Value>(&letter.body) {
            Ok(json) => println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            ),
            Err(_) => println!("{}", String::from_utf8_lossy(&letter.body)),
        }
    }

    /// `42s`, `3m05s`, `2h10m`, `4d03h`; `?` when unknown.
    fn age(letter: &DeadLetter) -> String {
        let Some(at) = letter.dead_lettered_at else {
            return "?".into();
        };
        let s = (chrono::Utc::now() - at).num_seconds().max(0);
        match s {
            0..60 => format!("{s}s"),
            60..3600 => format!("{}m{:02}s", s / 60, s % 60),
            3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
            _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
        }
    }

    fn shorten(text: &str, max: usize) -> String {
        let line = text.replace('\n', " ");
        if line.chars().count() <= max {
            return line;
        }
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
