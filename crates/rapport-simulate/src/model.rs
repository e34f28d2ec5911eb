//! The traffic model: who does what, when, as platform-neutral [`Action`]s. Owns the user pool
//! (heavy-tailed follower counts), the arrival process of threads (diurnal and weekly shape in
//! the brand's timezone), thread dynamics (follow-ups, multi-turn answers, DMs, away messages)
//! and each persona's decisions (answer or not, how fast, follow back or not).
//!
//! Rendering an action into a platform's webhook bytes is `render`'s job; this module never
//! sees JSON. Every brand draws from its own random stream, so the traffic of brand 2 is the
//! same whether 3 or 30 brands are simulated.

use chrono::{DateTime, Datelike, Days, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

use crate::config::{BrandSpec, Persona, SimConfig, DAY_MS};
use crate::rng::Rng;
use crate::text::{self, Addressee};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Followers at or above this are "big accounts" for the influencer-favouring persona
/// (the `10k-100k` band of METRICS.md §6 and above).
pub const BIG_ACCOUNT_FOLLOWERS: u64 = 10_000;

/// A simulated person.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub first: &'static str,
    pub last: &'static str,
    pub handle: String,
    pub followers: u64,
    pub x_id: String,
    pub fb_id: String,
    pub ig_id: String,
    pub mastodon_id: String,
    pub linkedin: String,
}

impl User {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }
}

/// The user pool shared by all brands.
pub(crate) fn users(seed: u64, n: u32) -> Vec<User> {
    let mut rng = Rng::stream(seed, "users", 0);
    (0..u64::from(n))
        .map(|i| {
            let first = *rng.pick(&text::FIRST_NAMES);
            let last = *rng.pick(&text::LAST_NAMES);
            // Log-normal, median 250, sigma 2.2: ~5 % of users have 10k+ followers and a
            // handful have millions, the shape follower counts have on every platform.
            let followers = rng.log_normal(250.0, 2.2).clamp(0.0, 50_000_000.0) as u64;
            User {
                handle: format!("{}_{}{}", first.to_lowercase(), last.to_lowercase(), i),
                followers,
                x_id: (3_001_000_000 + i * 7_919).to_string(),
                fb_id: (3_424_692_677_600_000 + i * 7_919).to_string(),
                ig_id: (987_654_321_000_000 + i * 7_919).to_string(),
                mastodon_id: (108_892_712_797_000_000 + i * 7_919).to_string(),
                linkedin: format!("urn:li:person:sim{i:06}"),
                first,
                last,
            }
        })
        .collect()
}

/// The networks the simulator speaks. LinkedIn items go through the generic endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Net {
    Facebook,
    Instagram,
    X,
    Mastodon,
    LinkedIn,
}

/// An item a thread item answers or joins.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub id: String,
    pub by_brand: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Act {
    /// An original post by the brand.
    Post { id: String, text: String },
    /// A public item by a user toward the brand: a comment on a brand post, a mention, or a
    /// reply inside a thread.
    UserPublic {
        user: usize,
        id: String,
        post: Option<String>,
        parent: Option<Parent>,
        text: String,
    },
    /// A public reply by the brand to the user's item `to`.
    BrandReply {
        user: usize,
        id: String,
        post: Option<String>,
        to: Parent,
        text: String,
    },
    UserDm {
        user: usize,
        id: String,
        text: String,
    },
    /// A DM by the brand; `bot` marks the away-message app (automation).
    BrandDm {
        user: usize,
        id: String,
        text: String,
        bot: bool,
    },
    /// A user liking the brand's post.
    UserLike { user: usize, post: String },
    /// The brand liking a user's item (acknowledgement, METRICS.md §3).
    BrandLike {
        user: usize,
        item: String,
        post: Option<String>,
    },
    Follow {
        user: usize,
        by_brand: bool,
        unfollow: bool,
    },
    /// The brand's profile counts (through the generic endpoint).
    Snapshot {
        followers: u64,
        following: u64,
        posts: u64,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub at_ms: i64,
    pub net: Net,
    pub act: Act,
}

/// Persona parameters: answer probability and delay.
struct Answer {
    p: f64,
}

/// All actions of one brand over the window, in no particular order.
pub(crate) fn brand_actions(cfg: &SimConfig, users: &[User], b: usize) -> Vec<Action> {
    let Some(brand) = cfg.brands.get(b) else {
        return Vec::new();
    };
    let mut g = Gen {
        cfg,
        users,
        brand,
        b,
        rng: Rng::stream(cfg.seed, "brand", b as u64),
        seq: 0,
        out: Vec::new(),
        posts: Vec::new(),
        x_followers: Vec::new(),
    };
    g.posts();
    g.threads();
    g.audience();
    g.snapshots();
    let (start, end) = (cfg.start_ms(), cfg.end_ms);
    g.out.retain(|a| a.at_ms >= start && a.at_ms < end);
    g.out
}

struct Gen<'a> {
    cfg: &'a SimConfig,
    users: &'a [User],
    brand: &'a BrandSpec,
    b: usize,
    rng: Rng,
    seq: u64,
    out: Vec<Action>,
    /// (net, time, id) of every brand post, in time order per net.
    posts: Vec<(Net, i64, String)>,
    /// (time, user, follow) on X involving the brand as target, and the brand's follow-backs.
    x_followers: Vec<(i64, bool, i64)>,
}

impl Gen<'_> {
    fn push(&mut self, at_ms: i64, net: Net, act: Act) {
        self.out.push(Action { at_ms, net, act });
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A new platform id for an item created at `at_ms`, in the platform's id style.
    fn new_id(&mut self, net: Net, at_ms: i64, what: IdKind) -> String {
        let seq = self.next_seq();
        let b = self.b as u64;
        match (net, what) {
            (Net::X, _) => {
                // Snowflake layout (time since X's epoch, then brand and sequence bits): ids
                // grow with time like real ones and never collide between brands.
                let t = (at_ms - 1_288_834_974_657).max(0) as u64;
                ((t << 22) | ((b & 0x3ff) << 12) | (seq & 0xfff)).to_string()
            }
            (Net::Mastodon, _) => {
                let t = at_ms.max(0) as u64;
                ((t << 16) | ((b & 0xff) << 8) | (seq & 0xff)).to_string()
            }
            (Net::Facebook, IdKind::Post) => {
                format!(
                    "{}_{}",
                    self.brand.accounts.facebook,
                    407_000_000_000_000 + seq
                )
            }
            (Net::Facebook, IdKind::Comment) => {
                format!("{}_{}", 407_000_000_000_000 + b, 408_000_000_000_000 + seq)
            }
            (Net::Facebook | Net::Instagram, IdKind::Message) => {
                format!("m_sim{b:04}{seq:012}{}", at_ms % 1000)
            }
            (Net::Instagram, _) => (18_050_310_000_000_000 + b * 100_000_000 + seq).to_string(),
            (Net::LinkedIn, IdKind::Post) => {
                format!("urn:li:activity:{}", 7_100_000_000 + b * 10_000_000 + seq)
            }
            (Net::LinkedIn, _) => format!(
                "urn:li:comment:(urn:li:activity:{},{})",
                7_100_000_000 + b * 10_000_000,
                7_200_000_000 + seq
            ),
        }
    }

    /// Brand posts: a Poisson number per day, in local daytime, over the posting networks.
    fn posts(&mut self) {
        let per_day = match self.brand.persona {
            Persona::Broadcaster => 12.0,
            Persona::Responsive => 1.5,
            Persona::Templated => 2.0,
            Persona::InfluencerFavouring => 3.0,
        };
        let start = self.cfg.start_ms();
        // A pinned post per network from before the window, so the first comments have
        // something to comment on (its own delivery happened before the window).
        for net in [
            Net::Facebook,
            Net::Instagram,
            Net::X,
            Net::Mastodon,
            Net::LinkedIn,
        ] {
            let at = start - 2 * DAY_MS;
            let id = self.new_id(net, at, IdKind::Post);
            self.posts.push((net, at, id));
        }
        for day in 0..i64::from(self.cfg.days) {
            let n = self.rng.poisson(per_day);
            for _ in 0..n {
                let net = *self.rng.pick(&[
                    Net::Facebook,
                    Net::Facebook,
                    Net::Instagram,
                    Net::X,
                    Net::X,
                    Net::X,
                    Net::Mastodon,
                    Net::LinkedIn,
                ]);
                let at = start + day * DAY_MS + self.rng.range(7 * HOUR_MS, 20 * HOUR_MS);
                let id = self.new_id(net, at, IdKind::Post);
                let text = text::post(&mut self.rng).to_owned();
                self.posts.push((net, at, id.clone()));
                let post = id.clone();
                // Instagram has no webhook for the account's own media: the post exists (it
                // is commented on) but is never delivered.
                if net != Net::Instagram {
                    self.push(at, net, Act::Post { id, text });
                }
                // Likes from the audience over the following hours.
                if matches!(net, Net::Facebook | Net::X | Net::Mastodon) {
                    let likes = self.rng.poisson(4.0);
                    for _ in 0..likes {
                        let user = self.rng.below(self.users.len() as u64) as usize;
                        let when = at + MINUTE_MS + self.rng.exp(3.0 * HOUR_MS as f64) as i64;
                        let post = post.clone();
                        self.push(when, net, Act::UserLike { user, post });
                    }
                }
            }
        }
        self.posts.sort_by_key(|p| p.1);
    }

    /// The latest brand post on `net` before `t` (the pinned one at worst).
    fn post_before(&self, net: Net, t: i64) -> Option<String> {
        self.posts
            .iter()
            .rfind(|p| p.0 == net && p.1 <= t - MINUTE_MS)
            .map(|p| p.2.clone())
    }

    /// Inbound threads: a Poisson process thinned by the local hour and weekday.
    fn threads(&mut self) {
        let tz = self.brand.timezone;
        let (start, end) = (self.cfg.start_ms(), self.cfg.end_ms);
        // Candidate rate at the peak weight; thinning keeps `threads_per_day` on average.
        let mean_gap = DAY_MS as f64 * MEAN_WEIGHT / self.cfg.threads_per_day;
        let mut t = start as f64;
        loop {
            t += self.rng.exp(mean_gap);
            if t >= end as f64 {
                break;
            }
            let at = t as i64;
            if self.rng.chance(activity_weight(tz, at)) {
                self.thread(at);
            }
        }
    }

    fn thread(&mut self, opened: i64) {
        let user = self.rng.below(self.users.len() as u64) as usize;
        let net = *self.rng.pick(&[
            Net::Facebook,
            Net::Facebook,
            Net::Facebook,
            Net::Instagram,
            Net::Instagram,
            Net::X,
            Net::X,
            Net::X,
            Net::Mastodon,
            Net::LinkedIn,
        ]);
        let private = net != Net::LinkedIn && self.rng.chance(0.3);
        let followers = self.users[user].followers;

        // Engagers on X often follow the brand first: the base of the engager follow-back rate.
        if net == Net::X && self.rng.chance(0.5) {
            let when = opened - self.rng.range(HOUR_MS, 5 * DAY_MS);
            self.follow(user, when);
        }

        let post = if private {
            None
        } else {
            match net {
                // On X and Mastodon half the threads are mentions, not answers to a post.
                Net::X | Net::Mastodon if self.rng.chance(0.5) => None,
                _ => self.post_before(net, opened),
            }
        };
        let opening_text = text::opening(&mut self.rng).to_owned();
        let root = self.user_item(net, private, user, opened, post.clone(), None, opening_text);
        let mut last = root.clone();

        // Away messages: some brands run a Messenger/Instagram bot that answers every first DM
        // instantly. It is automation and must never count as a response.
        if private
            && matches!(net, Net::Facebook | Net::Instagram)
            && matches!(
                self.brand.persona,
                Persona::Broadcaster | Persona::Templated
            )
        {
            let id = self.new_id(net, opened, IdKind::Message);
            self.push(
                opened + 3_000,
                net,
                Act::BrandDm {
                    user,
                    id,
                    text: text::AWAY_MESSAGE.to_owned(),
                    bot: true,
                },
            );
        }

        // Acknowledgement: a like on the opening item.
        let ack_p = match self.brand.persona {
            Persona::Responsive => 0.3,
            Persona::InfluencerFavouring if followers >= BIG_ACCOUNT_FOLLOWERS => 0.5,
            _ => 0.02,
        };
        if !private && matches!(net, Net::Facebook | Net::X) && self.rng.chance(ack_p) {
            let when = opened + MINUTE_MS + self.rng.exp(5.0 * MINUTE_MS as f64) as i64;
            self.push(
                when,
                net,
                Act::BrandLike {
                    user,
                    item: root.id.clone(),
                    post: post.clone(),
                },
            );
        }

        let mut asked = opened;
        for turn in 0..3 {
            let answer = self.answer_delay(asked, followers, turn);
            // A nudge from the user while waiting (or instead of an answer that never comes).
            if turn == 0 && self.rng.chance(0.25) {
                let when = asked + MINUTE_MS + self.rng.exp(25.0 * MINUTE_MS as f64) as i64;
                if answer.is_none_or(|a| when < a) {
                    let t = text::follow_up(&mut self.rng).to_owned();
                    last = self.user_item(net, private, user, when, post.clone(), Some(&root), t);
                }
            }
            let Some(at) = answer else { break };
            let to = self.reply_target(net, &root, &last);
            let brand_item = self.brand_answer(net, private, user, at, post.clone(), to);
            // Users sometimes answer back; the brand may answer again (multi-turn threads).
            if !self.rng.chance(0.35) {
                break;
            }
            let when = at + MINUTE_MS + self.rng.exp(40.0 * MINUTE_MS as f64) as i64;
            let t = text::user_return(&mut self.rng).to_owned();
            let parent = Parent {
                id: brand_item,
                by_brand: true,
            };
            last = self.user_item(net, private, user, when, post.clone(), Some(&parent), t);
            asked = when;
        }
    }

    /// What a brand reply on `net` answers: Facebook and Instagram nest replies one level deep
    /// under the opening comment; elsewhere the latest user item.
    fn reply_target(&self, net: Net, root: &Parent, last: &Parent) -> Parent {
        match net {
            Net::Facebook | Net::Instagram => root.clone(),
            _ => last.clone(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn user_item(
        &mut self,
        net: Net,
        private: bool,
        user: usize,
        at: i64,
        post: Option<String>,
        parent: Option<&Parent>,
        text: String,
    ) -> Parent {
        if private {
            let id = self.new_id(net, at, IdKind::Message);
            self.push(
                at,
                net,
                Act::UserDm {
                    user,
                    id: id.clone(),
                    text,
                },
            );
            return Parent {
                id,
                by_brand: false,
            };
        }
        let id = self.new_id(net, at, IdKind::Comment);
        // Facebook and Instagram replies hang under the top-level comment, never under a reply.
        let parent = parent.cloned();
        self.push(
            at,
            net,
            Act::UserPublic {
                user,
                id: id.clone(),
                post,
                parent,
                text,
            },
        );
        Parent {
            id,
            by_brand: false,
        }
    }

    /// The brand's answer (public reply or DM); returns its id.
    fn brand_answer(
        &mut self,
        net: Net,
        private: bool,
        user: usize,
        at: i64,
        post: Option<String>,
        to: Parent,
    ) -> String {
        let u = &self.users[user];
        let addressee = Addressee {
            first: u.first,
            handle: &u.handle,
            big: u.followers >= BIG_ACCOUNT_FOLLOWERS,
        };
        let mut text = text::brand_reply(
            &mut self.rng,
            self.brand.persona,
            &self.brand.id,
            &addressee,
        );
        if private {
            let id = self.new_id(net, at, IdKind::Message);
            self.push(
                at,
                net,
                Act::BrandDm {
                    user,
                    id: id.clone(),
                    text,
                    bot: false,
                },
            );
            return id;
        }
        // X and Mastodon clients prefix a reply with the handle it answers.
        if matches!(net, Net::X | Net::Mastodon) && !text.starts_with("Hi @") {
            text = format!("@{} {text}", u.handle);
        }
        let id = self.new_id(net, at, IdKind::Comment);
        self.push(
            at,
            net,
            Act::BrandReply {
                user,
                id: id.clone(),
                post,
                to,
                text,
            },
        );
        id
    }

    /// When the brand answers a user item sent at `asked`, or `None` if it does not.
    fn answer_delay(&mut self, asked: i64, followers: u64, turn: u32) -> Option<i64> {
        let tz = self.brand.timezone;
        let minutes = |m: f64| (m * MINUTE_MS as f64) as i64;
        let (answer, at) = match self.brand.persona {
            Persona::Broadcaster => {
                // Whoever runs the account looks at the mentions now and then: few answers,
                // most the next day, some days later.
                let delay = self.rng.log_normal(16.0 * 60.0, 0.8).min(5.0 * 24.0 * 60.0);
                (Answer { p: 0.07 }, asked + minutes(delay))
            }
            Persona::Responsive => {
                // A care team with extended hours and weekend cover: answered well within the
                // hour while it is staffed, overnight questions first thing in the morning.
                let delay = (1.0 + self.rng.exp(12.0)).min(50.0);
                (Answer { p: 0.93 }, care_start(tz, asked) + minutes(delay))
            }
            Persona::Templated => {
                // Canned replies within minutes, around the clock, to what the macros cover;
                // the rest falls through.
                let delay = (1.0 + self.rng.exp(7.0)).min(120.0);
                (Answer { p: 0.80 }, asked + minutes(delay))
            }
            Persona::InfluencerFavouring if followers >= BIG_ACCOUNT_FOLLOWERS => {
                let delay = (1.0 + self.rng.exp(12.0)).min(60.0);
                (Answer { p: 0.95 }, asked + minutes(delay))
            }
            Persona::InfluencerFavouring => {
                // Small accounts get a generic line in a once-a-day sweep, when at all.
                let delay = self.rng.log_normal(8.0 * 60.0, 0.6).min(3.0 * 24.0 * 60.0);
                (Answer { p: 0.20 }, asked + minutes(delay))
            }
        };
        // Later turns of a conversation get answered a little less often.
        let p = answer.p * if turn == 0 { 1.0 } else { 0.8 };
        self.rng.chance(p).then_some(at)
    }

    /// A user follows the brand on X (and the brand may follow back).
    fn follow(&mut self, user: usize, at: i64) {
        self.push(
            at,
            Net::X,
            Act::Follow {
                user,
                by_brand: false,
                unfollow: false,
            },
        );
        let big = self.users[user].followers >= BIG_ACCOUNT_FOLLOWERS;
        let p_back = match self.brand.persona {
            Persona::Broadcaster => 0.02,
            Persona::Responsive => 0.6,
            Persona::Templated => 0.1,
            Persona::InfluencerFavouring if big => 0.7,
            Persona::InfluencerFavouring => 0.01,
        };
        let mut back = 0;
        if self.rng.chance(p_back) {
            back = at + (self.rng.log_normal(5.0, 1.0).min(6.0 * 24.0) * HOUR_MS as f64) as i64;
            self.push(
                back,
                Net::X,
                Act::Follow {
                    user,
                    by_brand: true,
                    unfollow: false,
                },
            );
        }
        self.x_followers.push((at, true, back));
        if self.rng.chance(0.06) {
            let gone = at + self.rng.range(DAY_MS, 10 * DAY_MS);
            self.push(
                gone,
                Net::X,
                Act::Follow {
                    user,
                    by_brand: false,
                    unfollow: true,
                },
            );
            self.x_followers.push((gone, false, 0));
        }
    }

    /// New followers who never talk to the brand: X follows (with follow-backs and
    /// unfollows), Facebook Page likes/unlikes and Mastodon follows.
    fn audience(&mut self) {
        let start = self.cfg.start_ms();
        for day in 0..i64::from(self.cfg.days) {
            for _ in 0..self.rng.poisson(5.0) {
                let user = self.rng.below(self.users.len() as u64) as usize;
                let at = start + day * DAY_MS + self.rng.range(0, DAY_MS);
                match self.rng.below(10) {
                    0..=4 => self.follow(user, at),
                    5..=7 => {
                        self.push(
                            at,
                            Net::Facebook,
                            Act::Follow {
                                user,
                                by_brand: false,
                                unfollow: false,
                            },
                        );
                        if self.rng.chance(0.05) {
                            let gone = at + self.rng.range(HOUR_MS, 10 * DAY_MS);
                            self.push(
                                gone,
                                Net::Facebook,
                                Act::Follow {
                                    user,
                                    by_brand: false,
                                    unfollow: true,
                                },
                            );
                        }
                    }
                    _ => self.push(
                        at,
                        Net::Mastodon,
                        Act::Follow {
                            user,
                            by_brand: false,
                            unfollow: false,
                        },
                    ),
                }
            }
        }
    }

    /// A daily X profile snapshot, counts moved by the simulated follows.
    fn snapshots(&mut self) {
        let (followers0, following0, posts0) = self.brand.profile;
        let mut changes: Vec<(i64, i64, i64)> = Vec::new();
        for &(at, follow, back) in &self.x_followers {
            changes.push((at, if follow { 1 } else { -1 }, 0));
            if back > 0 {
                changes.push((back, 0, 1));
            }
        }
        changes.sort_unstable();
        let posts_x: Vec<i64> = self
            .posts
            .iter()
            .filter(|p| p.0 == Net::X)
            .map(|p| p.1)
            .collect();
        let start = self.cfg.start_ms();
        for day in 0..i64::from(self.cfg.days) {
            let at = start + day * DAY_MS + 5 * MINUTE_MS;
            let (df, dg) = changes
                .iter()
                .filter(|c| c.0 >= start && c.0 <= at)
                .fold((0i64, 0i64), |acc, c| (acc.0 + c.1, acc.1 + c.2));
            let posts = posts_x.iter().filter(|&&p| p >= start && p <= at).count() as u64;
            self.push(
                at,
                Net::X,
                Act::Snapshot {
                    followers: followers0.saturating_add_signed(df),
                    following: following0.saturating_add_signed(dg),
                    posts: posts0 + posts,
                },
            );
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum IdKind {
    Post,
    Comment,
    Message,
}

/// Relative activity by local hour (people write to brands at lunch and in the evening).
const HOURLY: [f64; 24] = [
    0.15, 0.10, 0.08, 0.07, 0.08, 0.12, 0.25, 0.45, 0.70, 0.90, 1.0, 1.0, 0.95, 0.95, 0.90, 0.85,
    0.85, 0.90, 0.95, 1.0, 0.95, 0.80, 0.55, 0.30,
];
/// Weekend days see less traffic.
const WEEKEND: f64 = 0.7;
/// Mean of `activity_weight` over a week, so the thinned process keeps its nominal rate.
const MEAN_WEIGHT: f64 = 0.619 * (5.0 + 2.0 * WEEKEND) / 7.0;

fn activity_weight(tz: Tz, at_ms: i64) -> f64 {
    let Some(utc) = DateTime::from_timestamp_millis(at_ms) else {
        return 0.0;
    };
    let local = utc.with_timezone(&tz);
    let hour = HOURLY[local.hour() as usize % 24];
    if local.weekday().num_days_from_monday() >= 5 {
        hour * WEEKEND
    } else {
        hour
    }
}

/// The first instant at or after `at_ms` when the responsive brand's care team is staffed
/// (every day 08:00–22:00 local, so outside business hours and at weekends too).
pub(crate) fn care_start(tz: Tz, at_ms: i64) -> i64 {
    next_open(tz, at_ms, (8, 22), true)
}

/// The first instant at or after `at_ms` inside the daily window `hours` (local, whole hours),
/// on weekdays only unless `weekends`.
fn next_open(tz: Tz, at_ms: i64, hours: (u32, u32), weekends: bool) -> i64 {
    let Some(utc) = DateTime::from_timestamp_millis(at_ms) else {
        return at_ms;
    };
    let today = utc.with_timezone(&tz).date_naive();
    let (Some(open_time), Some(close_time)) = (
        NaiveTime::from_hms_opt(hours.0, 0, 0),
        NaiveTime::from_hms_opt(hours.1, 0, 0),
    ) else {
        return at_ms;
    };
    for d in 0..8 {
        let Some(date) = today.checked_add_days(Days::new(d)) else {
            break;
        };
        if !weekends && date.weekday().num_days_from_monday() >= 5 {
            continue;
        }
        // `earliest` resolves DST gaps/folds; the opening hours are never inside a gap in
        // the zones used, but a zone that had one would just skip that day.
        let local_ms = |time| {
            tz.from_local_datetime(&date.and_time(time))
                .earliest()
                .map(|t| t.timestamp_millis())
        };
        let (Some(open), Some(close)) = (local_ms(open_time), local_ms(close_time)) else {
            continue;
        };
        if at_ms < open {
            return open;
        }
        if at_ms < close {
            return at_ms;
        }
    }
    at_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_start_moves_evenings_and_weekends_to_the_next_opening() {
        let tz = chrono_tz::Europe::Berlin;
        // Business hours: Mon–Fri 09:00–17:00.
        let business_start = |at| next_open(tz, at, (9, 17), false);
        let ms = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MIN)
        };
        // Monday 2026-03-02 10:00 Berlin (09:00Z) is open.
        assert_eq!(
            business_start(ms("2026-03-02T09:00:00Z")),
            ms("2026-03-02T09:00:00Z")
        );
        // Monday 18:00 Berlin → Tuesday 09:00 Berlin (08:00Z).
        assert_eq!(
            business_start(ms("2026-03-02T17:00:00Z")),
            ms("2026-03-03T08:00:00Z")
        );
        // Saturday → Monday 09:00.
        assert_eq!(
            business_start(ms("2026-03-07T12:00:00Z")),
            ms("2026-03-09T08:00:00Z")
        );
    }

    #[test]
    fn the_care_team_answers_evenings_and_weekends_and_nights_next_morning() {
        let tz = chrono_tz::Europe::Berlin;
        let ms = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MIN)
        };
        // Monday 20:00 Berlin (19:00Z) and Saturday 12:00 Berlin are staffed.
        for t in ["2026-03-02T19:00:00Z", "2026-03-07T11:00:00Z"] {
            assert_eq!(care_start(tz, ms(t)), ms(t));
        }
        // Saturday 23:30 Berlin → Sunday 08:00 Berlin (07:00Z).
        assert_eq!(
            care_start(tz, ms("2026-03-07T22:30:00Z")),
            ms("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn follower_counts_are_heavy_tailed() {
        let pool = users(1, 4000);
        let big = pool
            .iter()
            .filter(|u| u.followers >= BIG_ACCOUNT_FOLLOWERS)
            .count();
        let small = pool.iter().filter(|u| u.followers < 1000).count();
        assert!((100..400).contains(&big), "{big} big accounts");
        assert!(small > 2800, "{small} small accounts");
        assert!(pool.iter().any(|u| u.followers > 500_000));
    }
}
