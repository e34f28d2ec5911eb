//! Phrase banks: what users write to brands and what each persona writes back. Small on
//! purpose (deliveries stay small), but varied enough that a personal reply is not a template
//! while a templated brand's replies differ only by handle, agent signature and URL — the
//! variation METRICS.md §5 says the templated detector must see through.

use crate::config::Persona;
use crate::rng::Rng;

pub(crate) const FIRST_NAMES: [&str; 24] = [
    "Jordan", "Maria", "Ahmed", "Lena", "Kenji", "Sofia", "Liam", "Chloe", "Mateo", "Aisha",
    "Noah", "Emma", "Ravi", "Zoe", "Lucas", "Hana", "Oscar", "Ines", "Tomas", "Priya", "Felix",
    "Nora", "Diego", "Yuki",
];

pub(crate) const LAST_NAMES: [&str; 12] = [
    "Brinks", "Keller", "Okafor", "Novak", "Tanaka", "Rossi", "Murphy", "Silva", "Larsen",
    "Haddad", "Weber", "Chen",
];

const OPENINGS: [&str; 14] = [
    "my order still hasn't arrived, any update?",
    "is the spring range back in stock anywhere?",
    "the app keeps logging me out since the last update",
    "can I change the delivery address on an order I already placed?",
    "do you ship to Canada or only within the EU?",
    "why was I charged twice for the same order?",
    "great service at your Hamburg store today, thank you!",
    "the discount code from your newsletter doesn't work",
    "how long does a refund usually take?",
    "my package arrived damaged, what should I do?",
    "are the new trail shoes true to size?",
    "love the new collection, when is the next drop?",
    "your checkout page throws an error on mobile",
    "can I return an item bought in store online?",
];

const FOLLOW_UPS: [&str; 4] = [
    "anyone there?",
    "still waiting on this...",
    "hello? any update on my question?",
    "would really appreciate an answer",
];

const RETURNS: [&str; 5] = [
    "thanks, that worked!",
    "got it, thank you",
    "still not fixed unfortunately",
    "perfect, cheers!",
    "ok, I'll try that tonight",
];

const POSTS: [&str; 10] = [
    "New season, new colours. Shop the spring range now.",
    "Free shipping this weekend on all orders.",
    "Meet the team behind our new trail collection.",
    "Our stores open one hour earlier from Monday.",
    "Five ways to care for your leather boots.",
    "Limited edition drop: Friday 10:00.",
    "Thank you for 10 years with us!",
    "Behind the scenes at our design studio.",
    "Sustainability report 2025 is out.",
    "Which colour should we bring back? Vote below.",
];

const PERSONAL_OPENERS: [&str; 5] = [
    "Hi {first}!",
    "Hey {first},",
    "Thanks {first}!",
    "Hello {first},",
    "{first}, thanks for asking!",
];

const PERSONAL_BODIES: [&str; 12] = [
    "I checked your order and it left our warehouse this morning, so it should reach you by Thursday.",
    "the spring range is back in our Berlin and Munich stores, and online from next week.",
    "that logout bug is fixed in version 4.2, which rolls out tonight; updating should sort it.",
    "yes, you can still change the address until the parcel is handed to the courier.",
    "we ship to Canada too; duties are included at checkout so there are no surprises.",
    "I can see the duplicate charge and have refunded it; it shows up within three days.",
    "so glad you enjoyed it, I'll pass your kind words on to the Hamburg team.",
    "the newsletter code expired yesterday, but I've added a fresh one to your account.",
    "refunds land within five working days after the warehouse receives the return.",
    "sorry about the damage! A replacement is on its way and you can keep the old pair.",
    "they run half a size small, so most people go up one size.",
    "the next drop is planned for early May and subscribers hear first.",
];

const PERSONAL_CLOSERS: [&str; 4] = [
    "Let me know if anything else comes up.",
    "Have a great day!",
    "Happy to help further.",
    "",
];

const CANNED: [&str; 2] = [
    "Hi @{handle}, we're sorry to hear that. Please send us a DM with your order number and we'll look into it right away. ^{agent} {url}",
    "Hi @{handle}, we're sorry to hear that! Please send us a DM with your order number and we'll look into it right away. ^{agent} {url}",
];

const AGENTS: [&str; 5] = ["AB", "JK", "MR", "TS", "LW"];

/// Short ad-hoc lines typed by whoever is on the account: an opener and a pointer, so they
/// repeat (and count as templated) only as often as a busy social team really repeats itself.
const GENERIC_OPENERS: [&str; 6] = [
    "Thanks for reaching out!",
    "Sorry about that.",
    "Good question!",
    "Hi there,",
    "Thanks for the feedback.",
    "Appreciate it!",
];

const GENERIC_POINTERS: [&str; 8] = [
    "Our FAQ has the answer: {url}",
    "please check our help centre for this.",
    "we'll pass this on to the team.",
    "keep an eye on our channels for news.",
    "our support team can help at {url}",
    "we're looking into it.",
    "more details soon, stay tuned.",
    "have a look at {url}",
];

const INFLUENCER_BODIES: [&str; 4] = [
    "we'd love to send you the new collection to try, check your DMs!",
    "huge fan of your content, let's talk about a collaboration.",
    "thanks for the shout-out, that made the team's day.",
    "sorting this for you personally right now, expect an email within the hour.",
];

pub(crate) const AWAY_MESSAGE: &str =
    "Thanks for your message! Our team replies Mon-Fri 9-17. For order status see our help centre.";

/// A user's first public or private message.
pub(crate) fn opening(rng: &mut Rng) -> &'static str {
    one(rng, &OPENINGS)
}

/// A user nudging an unanswered thread.
pub(crate) fn follow_up(rng: &mut Rng) -> &'static str {
    one(rng, &FOLLOW_UPS)
}

/// A user answering the brand's reply.
pub(crate) fn user_return(rng: &mut Rng) -> &'static str {
    one(rng, &RETURNS)
}

pub(crate) fn post(rng: &mut Rng) -> &'static str {
    one(rng, &POSTS)
}

/// Who the reply is for, as the persona's phrasing needs it.
pub(crate) struct Addressee<'a> {
    pub first: &'a str,
    pub handle: &'a str,
    pub big: bool,
}

/// The persona's reply to a user; `brand` feeds the URLs.
pub(crate) fn brand_reply(
    rng: &mut Rng,
    persona: Persona,
    brand: &str,
    to: &Addressee<'_>,
) -> String {
    let url = format!(
        "https://help.{brand}.example/t/{}",
        10_000 + rng.below(90_000)
    );
    match persona {
        Persona::Responsive => {
            let body = one(rng, &PERSONAL_BODIES);
            personal(rng, to.first, body)
        }
        Persona::InfluencerFavouring if to.big => {
            let body = one(rng, &INFLUENCER_BODIES);
            personal(rng, to.first, body)
        }
        Persona::Templated => one(rng, &CANNED)
            .replace("{handle}", to.handle)
            .replace("{agent}", one(rng, &AGENTS))
            .replace("{url}", &url),
        Persona::Broadcaster | Persona::InfluencerFavouring => {
            let opener = one(rng, &GENERIC_OPENERS);
            let pointer = one(rng, &GENERIC_POINTERS).replace("{url}", &url);
            format!("{opener} {pointer}")
        }
    }
}

/// One phrase of a constant bank (banks are never empty).
fn one(rng: &mut Rng, bank: &[&'static str]) -> &'static str {
    bank[rng.below(bank.len() as u64) as usize]
}

fn personal(rng: &mut Rng, first: &str, body: &str) -> String {
    let opener = one(rng, &PERSONAL_OPENERS).replace("{first}", first);
    let closer = one(rng, &PERSONAL_CLOSERS);
    let mut text = format!("{opener} {body}");
    if !closer.is_empty() {
        text.push(' ');
        text.push_str(closer);
    }
    text
}
