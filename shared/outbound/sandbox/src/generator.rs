//! Deterministic record generation for the sandbox provider.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::value::RawValue;

use super::template::push_padded;

/// Records sharing one modification timestamp, so paging must cope with ties.
const RECORDS_PER_TIMESTAMP: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Opportunity,
    Account,
    Contact,
}

impl EntityKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "opportunity" | "opportunities" | "deal" | "deals" => Some(EntityKind::Opportunity),
            "account" | "accounts" | "company" | "companies" => Some(EntityKind::Account),
            "contact" | "contacts" => Some(EntityKind::Contact),
            _ => None,
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            EntityKind::Opportunity => "OPP",
            EntityKind::Account => "ACC",
            EntityKind::Contact => "CON",
        }
    }

    fn salt(self) -> u64 {
        match self {
            EntityKind::Opportunity => 0x9e37_79b9_7f4a_7c15,
            EntityKind::Account => 0xbf58_476d_1ce4_e5b9,
            EntityKind::Contact => 0x94d0_49bb_1331_11eb,
        }
    }
}

pub struct RecordGenerator {
    seed: u64,
    entity: EntityKind,
}

pub(crate) const STAGES: [(&str, u8); 6] = [
    ("Prospecting", 10),
    ("Qualification", 20),
    ("Needs Analysis", 40),
    ("Proposal", 60),
    ("Negotiation", 80),
    ("Closed Won", 100),
];
pub(crate) const COMPANIES: [&str; 8] = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
];
pub(crate) const FIRST_NAMES: [&str; 8] = [
    "Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Edsger", "Radia",
];
pub(crate) const LAST_NAMES: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Dijkstra", "Perlman",
];
pub(crate) const INDUSTRIES: [&str; 5] = [
    "Software",
    "Manufacturing",
    "Retail",
    "Finance",
    "Healthcare",
];
const WORDS: [&str; 16] = [
    "renewal",
    "expansion",
    "pilot",
    "security",
    "review",
    "budget",
    "approved",
    "pending",
    "legal",
    "procurement",
    "champion",
    "timeline",
    "integration",
    "rollout",
    "pricing",
    "risk",
];
/// Description length, sized so a record is about 1 KiB of JSON, like the CRM
/// payloads the platform's benchmarks use.
const DESCRIPTION_WORDS: usize = 70;

impl RecordGenerator {
    pub fn new(seed: u64, entity: EntityKind) -> Self {
        RecordGenerator { seed, entity }
    }

    pub fn external_id(&self, index: u64) -> String {
        let mut id = String::with_capacity(16);
        self.push_external_id(&mut id, index);
        id
    }

    /// `PREFIX-000000042`: the index in at least nine digits.
    pub(crate) fn push_external_id(&self, out: &mut String, index: u64) {
        out.push_str(self.entity.id_prefix());
        out.push('-');
        push_padded(out, index, 9);
    }

    pub(crate) fn kind(&self) -> EntityKind {
        self.entity
    }

    pub fn index_of(&self, external_id: &str) -> Option<u64> {
        external_id
            .strip_prefix(self.entity.id_prefix())?
            .strip_prefix('-')?
            .parse()
            .ok()
    }

    /// Generated records were last modified long ago, a second per three
    /// records; changes made later always sort after them.
    pub fn modified_at(&self, index: u64) -> DateTime<Utc> {
        epoch() + Duration::seconds((index / RECORDS_PER_TIMESTAMP) as i64)
    }

    /// The first index whose modification time is at or after `since`.
    pub fn first_index_modified_since(&self, since: DateTime<Utc>) -> u64 {
        let seconds = (since - epoch()).num_microseconds().unwrap_or(i64::MAX);
        if seconds <= 0 {
            return 0;
        }
        // ceil(seconds) whole seconds after the epoch, three records each.
        let whole = (seconds as u64).div_ceil(1_000_000);
        whole.saturating_mul(RECORDS_PER_TIMESTAMP)
    }

    pub(crate) fn rng(&self, index: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.seed ^ self.entity.salt() ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d),
        )
    }

    /// The record's JSON and modification time, with pushed fields overlaid.
    pub fn record(
        &self,
        index: u64,
        pushed: Option<(&serde_json::Map<String, serde_json::Value>, DateTime<Utc>)>,
    ) -> (Box<RawValue>, DateTime<Utc>) {
        let Some((fields, modified_at)) = pushed else {
            let modified_at = self.modified_at(index);
            let text = self.write_generated(index, modified_at);
            let raw = RawValue::from_string(text).expect("generated records are JSON");
            return (raw, modified_at);
        };
        let id = self.external_id(index);
        let generated = self.generate(index, &id, modified_at);
        (overlaid(&generated, fields), modified_at)
    }

    /// The record's fields: drawn from its own random stream, in this order.
    pub(crate) fn generate<'a>(
        &self,
        index: u64,
        id: &'a str,
        modified_at: DateTime<Utc>,
    ) -> Generated<'a> {
        let mut rng = self.rng(index);
        let created = epoch() - Duration::days(rng.random_range(1..720));
        let common = Common {
            id,
            created_date: created.to_rfc3339(),
            last_modified_date: modified_at.to_rfc3339(),
            is_deleted: false,
            description: description(&mut rng),
        };
        match self.entity {
            EntityKind::Opportunity => {
                let (stage, probability) = STAGES[rng.random_range(0..STAGES.len())];
                let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
                Generated::Opportunity(Opportunity {
                    name: format!("{company} - {} seats", rng.random_range(5..5000)),
                    account_id: format!("ACC-{:09}", rng.random_range(0..100_000u64)),
                    amount: (rng.random_range(1_000..2_000_000u64) as f64) / 1.0,
                    currency_iso_code: "USD",
                    stage_name: stage,
                    probability,
                    close_date: (modified_at + Duration::days(rng.random_range(7..180)))
                        .format("%Y-%m-%d")
                        .to_string(),
                    kind: if rng.random_bool(0.5) {
                        "New Business"
                    } else {
                        "Renewal"
                    },
                    owner_id: format!("USR-{:05}", rng.random_range(0..500)),
                    common,
                })
            }
            EntityKind::Account => {
                let company = COMPANIES[rng.random_range(0..COMPANIES.len())];
                Generated::Account(Account {
                    name: format!("{company} {}", rng.random_range(1..10_000)),
                    industry: INDUSTRIES[rng.random_range(0..INDUSTRIES.len())],
                    number_of_employees: rng.random_range(5..200_000),
                    annual_revenue: rng.random_range(100_000..5_000_000_000u64),
                    website: format!("https://{}.example.com", company.to_lowercase()),
                    common,
                })
            }
            EntityKind::Contact => {
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                Generated::Contact(Contact {
                    first_name: first,
                    last_name: last,
                    email: format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        index
                    ),
                    title: "Director",
                    account_id: format!("ACC-{:09}", rng.random_range(0..100_000u64)),
                    common,
                })
            }
        }
    }
}

/// A generated record as JSON text with pushed fields overlaid, through
/// serde (unpushed records, nearly all, are written by `write_generated`).
fn overlaid(
    record: &Generated<'_>,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Box<RawValue> {
    serde_json::to_value(record)
        .and_then(|value| match value {
            serde_json::Value::Object(mut map) => {
                map.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                serde_json::value::to_raw_value(&map)
            }
            other => serde_json::value::to_raw_value(&other),
        })
        .expect("generated records always serialise")
}

pub(crate) fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn description(rng: &mut ChaCha8Rng) -> String {
    let mut text = String::with_capacity(DESCRIPTION_WORDS * 9);
    DescriptionDraws::draw(rng).push(&mut text);
    text
}

/// A description's random bits: four pick one of the sixteen words, so one
/// draw serves sixteen words.
pub(crate) struct DescriptionDraws([u64; DESCRIPTION_WORDS.div_ceil(16)]);

impl DescriptionDraws {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> Self {
        DescriptionDraws(std::array::from_fn(|_| rng.next_u64()))
    }

    /// The words, "first second" a pair at a time by the byte that picks the
    /// pair (low four bits the first word). Each pair is copied as a whole
    /// slot of [`Pair`] into a buffer on the stack (a fixed-size copy, not a
    /// call to copy a few bytes), then the text in one piece.
    pub(crate) fn push(&self, text: &mut String) {
        static PAIRS: LazyLock<Vec<Pair>> = LazyLock::new(|| {
            (0..256)
                .map(|pair| Pair::of(WORDS[pair & 0xf], WORDS[pair >> 4]))
                .collect()
        });
        const _: () = assert!(DESCRIPTION_WORDS.is_multiple_of(2));
        let mut buffer = [b' '; DESCRIPTION_WORDS / 2 * PAIR_SLOT];
        let mut end = 0;
        for pair in 0..DESCRIPTION_WORDS / 2 {
            let byte = (self.0[pair / 8] >> (8 * (pair % 8))) & 0xff;
            let Pair { slot, len } = &PAIRS[byte as usize];
            buffer[end..end + PAIR_SLOT].copy_from_slice(slot);
            end += len;
        }
        // Each pair's slot ends with the space before the next pair.
        let words = &buffer[..end - 1];
        text.push_str(std::str::from_utf8(words).expect("the words are ASCII"));
    }
}

/// Room for the longest pair of words and the space after it.
const PAIR_SLOT: usize = 32;

/// "first second " in a fixed slot, and how much of the slot it fills.
struct Pair {
    slot: [u8; PAIR_SLOT],
    len: usize,
}

impl Pair {
    fn of(first: &str, second: &str) -> Self {
        let text = format!("{first} {second} ");
        let mut slot = [b' '; PAIR_SLOT];
        slot[..text.len()].copy_from_slice(text.as_bytes());
        Pair {
            slot,
            len: text.len(),
        }
    }
}

/// A generated record's fields, of its entity's kind.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Generated<'a> {
    Opportunity(Opportunity<'a>),
    Account(Account<'a>),
    Contact(Contact<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Common<'a> {
    pub(crate) id: &'a str,
    pub(crate) created_date: String,
    pub(crate) last_modified_date: String,
    pub(crate) is_deleted: bool,
    pub(crate) description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Opportunity<'a> {
    pub(crate) name: String,
    pub(crate) account_id: String,
    pub(crate) amount: f64,
    pub(crate) currency_iso_code: &'static str,
    pub(crate) stage_name: &'static str,
    pub(crate) probability: u8,
    pub(crate) close_date: String,
    #[serde(rename = "Type")]
    pub(crate) kind: &'static str,
    pub(crate) owner_id: String,
    #[serde(flatten)]
    pub(crate) common: Common<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Account<'a> {
    pub(crate) name: String,
    pub(crate) industry: &'static str,
    pub(crate) number_of_employees: u32,
    pub(crate) annual_revenue: u64,
    pub(crate) website: String,
    #[serde(flatten)]
    pub(crate) common: Common<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Contact<'a> {
    pub(crate) first_name: &'static str,
    pub(crate) last_name: &'static str,
    pub(crate) email: String,
    pub(crate) title: &'static str,
    pub(crate) account_id: String,
    #[serde(flatten)]
    pub(crate) common: Common<'a>,
}
