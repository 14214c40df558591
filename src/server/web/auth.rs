//! Who may use the web endpoint: one-time login links traded for browser sessions, and the
//! brake on guessing.
//!
//! A login link carries a 256-bit random token, usable once, for `login_ttl`. The browser
//! trades it for a session: a second 256-bit secret in an HttpOnly, SameSite=Strict cookie,
//! valid while used within `session_idle`. Only SHA-256 hashes of either are kept, compared in
//! constant time, so a memory dump or a log never holds a usable secret. Failed logins are
//! counted per client address and in all: past the limits every login is refused for the rest
//! of the minute, while requests that carry a valid session go on being served.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Failed logins one address may make per minute.
pub const FAILURES_PER_ADDRESS: u32 = 10;
/// Failed logins from everyone together per minute (a spread-out guess is braked too).
pub const FAILURES_IN_ALL: u32 = 100;
/// Sessions kept at once; the least recently used goes first.
pub const MAX_SESSIONS: usize = 64;
/// Login links waiting at once; the oldest goes first.
pub const MAX_LOGINS: usize = 16;
const WINDOW: Duration = Duration::from_secs(60);

type Hash = [u8; 32];

fn hash(secret: &str) -> Hash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equal without telling how much matched by how long it took.
fn same(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes as hex.
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    hex::encode(bytes)
}

struct Login {
    hash: Hash,
    expires: Instant,
}

/// A browser that logged in: what `sbx web tokens` lists.
#[derive(Debug, Clone)]
pub struct Session {
    /// A short public name for it (not the secret), for listing and revoking.
    pub id: String,
    hash: Hash,
    pub created: std::time::SystemTime,
    last_used: Instant,
    /// The browser's User-Agent, cut and cleaned, to tell sessions apart.
    pub agent: String,
    pub address: IpAddr,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a link (or a session) this server gave, or one used up or expired.
    Unknown,
    /// Too many failures: wait for the minute to pass.
    Braked,
}

pub struct Auth {
    login_ttl: Duration,
    session_idle: Duration,
    logins: Vec<Login>,
    sessions: BTreeMap<String, Session>,
    failures: HashMap<IpAddr, (Instant, u32)>,
    all_failures: (Instant, u32),
}

impl Auth {
    pub fn new(login_ttl: Duration, session_idle: Duration) -> Auth {
        Auth {
            login_ttl,
            session_idle,
            logins: Vec::new(),
            sessions: BTreeMap::new(),
            failures: HashMap::new(),
            all_failures: (Instant::now(), 0),
        }
    }

    /// A new login token (shown once, in the link `sbx web` prints).
    pub fn new_login(&mut self, now: Instant) -> String {
        self.logins.retain(|l| l.expires > now);
        if self.logins.len() >= MAX_LOGINS {
            self.logins.remove(0);
        }
        let token = secret();
        self.logins.push(Login { hash: hash(&token), expires: now + self.login_ttl });
        token
    }

    /// Trade a login token for a session; the session's secret goes in the cookie.
    pub fn login(&mut self, token: &str, from: IpAddr, agent: &str, now: Instant) -> Result<String, Refused> {
        if self.braked(from, now) {
            return Err(Refused::Braked);
        }
        let h = hash(token);
        self.logins.retain(|l| l.expires > now);
        let Some(i) = self.logins.iter().position(|l| same(&l.hash, &h)) else {
            self.failed(from, now);
            return Err(Refused::Unknown);
        };
        self.logins.remove(i);
        if self.sessions.len() >= MAX_SESSIONS {
            let oldest = self.sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.sessions.remove(&id);
            }
        }
        let cookie = secret();
        let id = cookie_id(&cookie);
        let agent: String = agent.chars().filter(|c| !c.is_control()).take(80).collect();
        self.sessions.insert(
            id.clone(),
            Session {
                id,
                hash: hash(&cookie),
                created: std::time::SystemTime::now(),
                last_used: now,
                agent,
                address: from,
            },
        );
        Ok(cookie)
    }

    /// The session a cookie's secret belongs to (marked used), if it is one of ours and live.
    pub fn check(&mut self, cookie: &str, now: Instant) -> Option<&Session> {
        let idle = self.session_idle;
        self.sessions.retain(|_, s| now.duration_since(s.last_used) < idle);
        let h = hash(cookie);
        let session = self.sessions.get_mut(&cookie_id(cookie)).filter(|s| same(&s.hash, &h))?;
        session.last_used = now;
        Some(session)
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Revoke one session by its id (or, with None, all and every unused login link).
    pub fn revoke(&mut self, id: Option<&str>) -> usize {
        match id {
            Some(id) => usize::from(self.sessions.remove(id).is_some()),
            None => {
                let n = self.sessions.len() + self.logins.len();
                self.sessions.clear();
                self.logins.clear();
                n
            }
        }
    }

    fn braked(&mut self, from: IpAddr, now: Instant) -> bool {
        if now.duration_since(self.all_failures.0) >= WINDOW {
            self.all_failures = (now, 0);
        }
        self.failures.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        let mine = self.failures.get(&from).map_or(0, |(_, n)| *n);
        mine >= FAILURES_PER_ADDRESS || self.all_failures.1 >= FAILURES_IN_ALL
    }

    fn failed(&mut self, from: IpAddr, now: Instant) {
        self.all_failures.1 += 1;
        // Bounded: a flood from many addresses ages out with the window, and past the total
        // limit every login is braked anyway.
        if self.failures.len() < 4096 {
            self.failures.entry(from).or_insert((now, 0)).1 += 1;
        }
    }
}

/// A session's public id: the first 12 hex digits of its secret's hash.
fn cookie_id(cookie: &str) -> String {
    hex::encode(&hash(cookie)[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(Duration::from_secs(600), Duration::from_secs(3600))
    }
    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_login_link_works_once_and_its_session_is_checked_by_its_secret() {
        let mut a = auth();
        let now = Instant::now();
        let token = a.new_login(now);
        assert_eq!(token.len(), 64);
        let cookie = a.login(&token, HOME, "Chromium\x1b[2J", now).unwrap();
        assert_eq!(a.login(&token, HOME, "x", now), Err(Refused::Unknown), "used up");
        let session = a.check(&cookie, now).unwrap();
        assert_eq!(session.agent, "Chromium[2J", "no control characters kept");
        assert!(a.check(&secret(), now).is_none(), "a cookie of another server");
        assert!(a.check(&token, now).is_none(), "the login token is not a session");
    }

    #[test]
    fn links_and_sessions_expire() {
        let mut a = auth();
        let now = Instant::now();
        let token = a.new_login(now);
        assert_eq!(a.login(&token, HOME, "", now + Duration::from_secs(601)), Err(Refused::Unknown));
        let token = a.new_login(now);
        let cookie = a.login(&token, HOME, "", now).unwrap();
        assert!(a.check(&cookie, now + Duration::from_secs(3000)).is_some(), "used: kept");
        assert!(a.check(&cookie, now + Duration::from_secs(6601)).is_none(), "idle past the limit");
    }

    #[test]
    fn guessing_is_braked_per_address_and_in_all_and_a_minute_later_let_go() {
        let mut a = auth();
        let now = Instant::now();
        let token = a.new_login(now);
        for _ in 0..FAILURES_PER_ADDRESS {
            assert_eq!(a.login("wrong", HOME, "", now), Err(Refused::Unknown));
        }
        assert_eq!(a.login(&token, HOME, "", now), Err(Refused::Braked), "even the right token, for now");
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(a.login(&token, other, "", now).is_ok(), "another address is not braked by this one");
        for i in 0..FAILURES_IN_ALL {
            let _ = a.login("wrong", IpAddr::V4(std::net::Ipv4Addr::from(i + 1000)), "", now);
        }
        let token = a.new_login(now);
        assert_eq!(a.login(&token, [10, 9, 9, 9].into(), "", now), Err(Refused::Braked), "too many in all");
        assert!(a.login(&token, HOME, "", now + WINDOW).is_ok(), "the next minute");
    }

    #[test]
    fn revoking_ends_sessions_and_bounds_hold() {
        let mut a = auth();
        let now = Instant::now();
        // Each a millisecond after the last, so "least recently used" has one answer.
        let cookies: Vec<String> = (0..MAX_SESSIONS + 3)
            .map(|i| {
                let at = now + Duration::from_millis(i as u64);
                let token = a.new_login(at);
                a.login(&token, HOME, "", at).unwrap()
            })
            .collect();
        assert_eq!(a.sessions().count(), MAX_SESSIONS);
        let now = now + Duration::from_secs(1);
        assert!(a.check(&cookies[0], now).is_none(), "the least recently used went first");
        let id = a.check(&cookies[MAX_SESSIONS], now).unwrap().id.clone();
        assert_eq!(a.revoke(Some(&id)), 1);
        assert!(a.check(&cookies[MAX_SESSIONS], now).is_none());
        for _ in 0..MAX_LOGINS + 5 {
            a.new_login(now);
        }
        assert_eq!(a.logins.len(), MAX_LOGINS);
        a.revoke(None);
        assert_eq!(a.sessions().count(), 0);
    }
}
