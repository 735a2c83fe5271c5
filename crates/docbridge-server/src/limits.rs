//! Limits that keep one caller from starving or locking out the others: concurrent uploads per
//! integration, and failed authentications per client (C20: 429 with `Retry-After`), where the
//! client is the address [`client_address`] works out, through the proxies the configuration
//! trusts; and the slowest an upload's bytes may arrive.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bytes::Bytes;
use futures::Stream;
use ipnet::IpNet;

use crate::connection::MinRate;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a client that hit a limit is told to wait before retrying uploads.
const UPLOAD_RETRY_AFTER_SECS: u64 = 5;

/// Failed authentications of one key logged in full: the first of a window, then every this
/// many, so that a guesser cannot flood the log but every offender shows in it.
const LOG_EVERY: usize = 10;

/// Failures kept per username for the back-off: enough to reach any delay worth waiting.
const BACKOFF_MEMORY: usize = 64;

// ---- The client's address ----

/// Which header the trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The proxies whose word about the client's address is taken (`[http] trusted_proxies`), and
/// the header they write it into. Empty: every forwarding header is ignored, and the client is
/// the TCP peer.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { networks, header }
    }

    /// Parses `[http] trusted_proxies` entries: an address (`10.0.0.7`, `::1`) or a network
    /// (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String], header: ForwardedHeader) -> Result<Self, String> {
        let networks = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither an address nor a network (10.0.0.0/8)"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks, header })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`: the peer itself unless it is a trusted proxy; then the
    /// rightmost address in the forwarding header that is not a trusted proxy (each proxy
    /// appends the one it saw, so everything left of that could be made up by the client).
    /// A hop that is not an address (`unknown`, an obfuscated name, garbage) ends the walk at
    /// the proxy that wrote it: limits then fall on that proxy rather than on nobody.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => header_values(headers, "x-forwarded-for")
                .flat_map(|v| v.split(','))
                .map(|hop| parse_node(hop.trim()))
                .collect::<Vec<_>>(),
            ForwardedHeader::Forwarded => header_values(headers, "forwarded")
                .flat_map(|v| v.split(','))
                .filter_map(forwarded_for)
                .collect::<Vec<_>>(),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(address) => {
                    client = canonical(address);
                    if !self.trusts(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok())
}

/// The node of one `Forwarded` element's `for=` parameter: `Some(None)` when it is there but
/// not an address, `None` when the element has no `for=`.
fn forwarded_for(element: &str) -> Option<Option<IpAddr>> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))
    })
}

/// An address with or without a port: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:192.0.2.1`) is the IPv4 address, so
/// that one client has one key and `trusted_proxies` can name it as written.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The caller's address as every handler that counts, limits or logs by address sees it: the
/// TCP peer, or the client a trusted proxy names. `None` only when the server was not started
/// with connection info (a router driven without a socket, in tests).
pub(crate) fn client_address(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(state.settings.trusted_proxies.client(peer, headers))
}

/// [`client_address`] as an extractor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(state, &parts.extensions, &parts.headers)))
    }
}

// ---- Failed authentications ----

/// What a failed authentication counts against. Every key names the client, so that nobody but
/// the client that fails pays for it, except the per-user back-off, which only slows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FailureKey {
    /// Wrong ApiKeys or bearer tokens from a client to an integration (by slug): Workfront
    /// calls every customer's provider from shared addresses, so one tenant's wrong key must
    /// not lock out another's.
    Integration { slug: String, client: IpAddr },
    /// Wrong admin tokens, on the admin API and the admin login page alike.
    Admin { client: IpAddr },
    /// Failed OAuth2 logins from a client, whatever the usernames.
    LoginClient { client: IpAddr },
    /// Failed OAuth2 logins for a user from a client.
    LoginUser { username: String, client: IpAddr },
    /// Failed OAuth2 logins for a user from anywhere: never a lockout, a bounded back-off.
    LoginBackoff { username: String },
}

impl fmt::Display for FailureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKey::Integration { slug, client } => write!(f, "integration {slug} from {client}"),
            FailureKey::Admin { client } => write!(f, "admin from {client}"),
            FailureKey::LoginClient { client } => write!(f, "logins from {client}"),
            FailureKey::LoginUser { username, client } => write!(f, "logins for {username} from {client}"),
            FailureKey::LoginBackoff { username } => write!(f, "logins for {username} from anywhere"),
        }
    }
}

/// How many failures a key may have within how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub max: u32,
    pub window: Duration,
}

/// One limiter for every kind of failed authentication: the recent failures of each key, in
/// memory (per process; a restart forgets them).
#[derive(Debug, Default)]
struct Failures {
    recent: Mutex<HashMap<FailureKey, (Duration, VecDeque<Instant>)>>,
}

impl Failures {
    /// How long until `key` may try again, when it has used up its allowance.
    fn retry_after(&self, key: &FailureKey, allowance: Allowance) -> Option<Duration> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let (_, times) = recent.get(key)?;
        let live: Vec<&Instant> = times.iter().filter(|t| t.elapsed() < allowance.window).collect();
        // The oldest failure that still counts must leave the window for one more try.
        let oldest = live.len().checked_sub(allowance.max.max(1) as usize).map(|i| live[i])?;
        Some(allowance.window.saturating_sub(oldest.elapsed()).max(Duration::from_secs(1)))
    }

    /// The failures of `key` within `window`.
    fn count(&self, key: &FailureKey, window: Duration) -> usize {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.get(key).map_or(0, |(_, times)| times.iter().filter(|t| t.elapsed() < window).count())
    }

    /// Counts a failure of `key`, keeping at most `keep` of them; answers how many are recent.
    fn record(&self, key: &FailureKey, window: Duration, keep: usize) -> usize {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // Forget what has left its window, so memory stays as small as the recent offenders.
        recent.retain(|_, (window, times)| {
            times.retain(|t| t.elapsed() < *window);
            !times.is_empty()
        });
        let (_, times) = recent.entry(key.clone()).or_insert_with(|| (window, VecDeque::new()));
        times.push_back(Instant::now());
        while times.len() > keep.max(1) {
            times.pop_front();
        }
        times.len()
    }

    fn forget(&self, key: &FailureKey) {
        self.recent.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The limits that SIGHUP changes in a running process ([`Limits::update`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLimits {
    /// `[documents] max_concurrent_uploads`, per integration.
    pub max_concurrent_uploads: usize,
    /// `[http] max_auth_failures_per_minute`, per client and key.
    pub max_auth_failures_per_minute: u32,
    /// `[http] min_upload_bytes_per_sec` over `upload_rate_window_secs`; `None`: any rate.
    pub min_upload_rate: Option<MinRate>,
}

#[derive(Debug)]
pub struct Limits {
    /// Read at every upload, so that a reload applies to the next one. Counters rather than
    /// semaphores: a semaphore's size cannot shrink while permits are out.
    max_uploads: AtomicUsize,
    uploads: Mutex<HashMap<i64, Arc<AtomicUsize>>>,
    /// Failed provider and admin authentications a client may make within `auth_window`.
    auth_max: AtomicU32,
    auth_window: Duration,
    min_upload_rate: Mutex<Option<MinRate>>,
    failures: Failures,
}

/// One upload's place among its integration's `max_concurrent_uploads`, given back on drop.
#[derive(Debug)]
pub struct UploadSlot(Arc<AtomicUsize>);

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limits {
    pub fn new(live: LiveLimits, window: Duration) -> Self {
        let limits = Limits {
            max_uploads: AtomicUsize::new(1),
            uploads: Mutex::default(),
            auth_max: AtomicU32::new(1),
            auth_window: window,
            min_upload_rate: Mutex::new(None),
            failures: Failures::default(),
        };
        limits.update(live);
        limits
    }

    /// Applies reloaded limits: the next upload, authentication failure and upload stream go
    /// by them. Uploads already running keep their slots and their rate check; failures
    /// already counted stay counted.
    pub fn update(&self, live: LiveLimits) {
        self.max_uploads.store(live.max_concurrent_uploads.max(1), Ordering::Release);
        self.auth_max.store(live.max_auth_failures_per_minute.max(1), Ordering::Release);
        *self.min_upload_rate.lock().unwrap_or_else(|e| e.into_inner()) = live.min_upload_rate;
    }

    /// What is in force now.
    pub fn live(&self) -> LiveLimits {
        LiveLimits {
            max_concurrent_uploads: self.max_uploads.load(Ordering::Acquire),
            max_auth_failures_per_minute: self.auth_max.load(Ordering::Acquire),
            min_upload_rate: self.min_upload_rate(),
        }
    }

    /// The slowest an upload's bytes may arrive (`[http] min_upload_bytes_per_sec`).
    pub fn min_upload_rate(&self) -> Option<MinRate> {
        *self.min_upload_rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for one upload into an integration, held until the slot is dropped.
    pub fn upload_slot(&self, integration_id: i64) -> Result<UploadSlot, ApiError> {
        let running = self.uploads.lock().unwrap_or_else(|e| e.into_inner()).entry(integration_id).or_default().clone();
        let max = self.max_uploads.load(Ordering::Acquire);
        match running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)) {
            Ok(_) => Ok(UploadSlot(running)),
            Err(_) => Err(ApiError::too_many_requests(
                format!("too many uploads in progress for this integration (at most {max}); retry shortly"),
                UPLOAD_RETRY_AFTER_SECS,
            )),
        }
    }

    /// The allowance of provider-call and admin keys (`[http] max_auth_failures_per_minute`).
    pub(crate) fn auth_allowance(&self) -> Allowance {
        Allowance { max: self.auth_max.load(Ordering::Acquire), window: self.auth_window }
    }

    /// Refuses a key that has used up its allowance, with how long to wait.
    pub(crate) fn check(&self, key: &FailureKey, allowance: Allowance) -> Result<(), ApiError> {
        match self.failures.retry_after(key, allowance) {
            Some(wait) => Err(ApiError::too_many_requests(
                "too many failed authentications from this address; retry later",
                wait.as_secs().max(1),
            )),
            None => Ok(()),
        }
    }

    /// How long until `key` may try again; `None` while it may.
    pub(crate) fn retry_after(&self, key: &FailureKey, allowance: Allowance) -> Option<Duration> {
        self.failures.retry_after(key, allowance)
    }

    /// Counts a failed authentication against `key`, and logs it: the first and every
    /// [`LOG_EVERY`]th of a window, and the one that locks the key out. `detail` says what
    /// failed (never the secret).
    pub(crate) fn record_failure(&self, key: &FailureKey, allowance: Allowance, detail: &str) {
        let count = self.failures.record(key, allowance.window, allowance.max.max(1) as usize);
        if count >= allowance.max.max(1) as usize {
            tracing::warn!(
                key = %key,
                failures = count,
                retry_after_secs = allowance.window.as_secs(),
                detail,
                "authentication lockout: {key} refused with 429 after {count} failures"
            );
        } else if count == 1 || count.is_multiple_of(LOG_EVERY) {
            tracing::info!(key = %key, failures = count, detail, "failed authentication: {key} ({detail})");
        }
    }

    /// Counts a failed login for the per-user back-off, which slows and never refuses.
    pub(crate) fn record_backoff_failure(&self, username: &str, window: Duration) {
        let key = FailureKey::LoginBackoff { username: username.to_owned() };
        self.failures.record(&key, window, BACKOFF_MEMORY);
    }

    /// How long a login for `username` waits before its password is checked: nothing until
    /// `after` failures from anywhere within `window`, then one second doubling per further
    /// failure, never more than `max`.
    pub(crate) fn backoff(&self, username: &str, after: u32, window: Duration, max: Duration) -> Duration {
        let key = FailureKey::LoginBackoff { username: username.to_owned() };
        let count = self.failures.count(&key, window);
        let Some(excess) = count.checked_sub(after.max(1) as usize) else { return Duration::ZERO };
        let delay = Duration::from_secs(1).saturating_mul(1u32 << excess.min(20));
        if !max.is_zero() && delay >= max {
            tracing::warn!(username, failures = count, delay_secs = max.as_secs(), "login back-off at its longest");
        }
        delay.min(max)
    }

    /// Forgets the failures of one key (a client's for one user, after it logged in); other
    /// clients' counts stay, or a guesser could clear them with an account of their own.
    pub(crate) fn forget(&self, key: &FailureKey) {
        self.failures.forget(key);
    }
}

/// An upload's bytes, failing with `TimedOut` when a window of `rate.window` spent waiting for the
/// client brought fewer than `rate.bytes_per_window()` bytes, and saying so through the flag
/// handed to [`TooSlow::new`] (the storage layer turns any source error into one of its own).
///
/// Only time spent waiting for the client counts: while the storage is busy (an S3 part being
/// sent, a file synced) the stream is not polled, and the client is not to blame for that.
pub struct TooSlow<S> {
    inner: S,
    rate: MinRate,
    tripped: Arc<AtomicBool>,
    /// Bytes received in the current window.
    received: u64,
    /// Waiting time of the current window, not counting a wait still in progress.
    waited: Duration,
    /// When the wait in progress, if any, began.
    waiting_since: Option<tokio::time::Instant>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<S> TooSlow<S> {
    pub fn new(inner: S, rate: MinRate, tripped: Arc<AtomicBool>) -> Self {
        TooSlow {
            inner,
            rate,
            tripped,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(rate.window)),
        }
    }

    /// Ends the current window if it has lasted long enough: an error when it brought too little.
    fn check(&mut self, now: tokio::time::Instant) -> io::Result<()> {
        let waiting = self.waiting_since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        if self.waited + waiting < self.rate.window {
            return Ok(());
        }
        if self.received < self.rate.bytes_per_window() {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the upload's bytes arrived slower than {} bytes per second over {} s",
                    self.rate.bytes_per_sec,
                    self.rate.window.as_secs_f64()
                ),
            ));
        }
        self.received = 0;
        self.waited = Duration::ZERO;
        self.waiting_since = self.waiting_since.map(|_| now);
        Ok(())
    }
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for TooSlow<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let now = tokio::time::Instant::now();
                if let Some(since) = this.waiting_since.take() {
                    this.waited += now.saturating_duration_since(since);
                }
                if let Some(Ok(chunk)) = &item {
                    this.received = this.received.saturating_add(chunk.len() as u64);
                    if let Err(e) = this.check(now) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(item)
            }
            Poll::Pending => loop {
                let now = tokio::time::Instant::now();
                let since = *this.waiting_since.get_or_insert(now);
                if let Err(e) = this.check(now) {
                    return Poll::Ready(Some(Err(e)));
                }
                // `check` may have started a new window: read the wait's start again.
                let since = this.waiting_since.unwrap_or(since);
                let deadline = since + this.rate.window.saturating_sub(this.waited);
                this.timer.as_mut().reset(deadline);
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn proxies(entries: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>(), header).unwrap()
    }

    /// `check(trusted, header, peer, headers, client)`.
    fn check(trusted: &TrustedProxies, peer: &str, pairs: &[(&'static str, &'static str)], client: &str) {
        assert_eq!(trusted.client(ip(peer), &headers(pairs)), ip(client), "peer {peer}, {pairs:?}");
    }

    #[test]
    fn without_trusted_proxies_forwarding_headers_change_nothing() {
        let none = TrustedProxies::default();
        check(&none, "203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9");
        check(&none, "203.0.113.9", &[("forwarded", "for=198.51.100.1")], "203.0.113.9");
        check(&none, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1")], "127.0.0.1");
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1"], ForwardedHeader::XForwardedFor);
        check(&trusted, "203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9");
        check(&trusted, "203.0.113.9", &[("x-forwarded-for", "10.0.0.1")], "203.0.113.9");
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8", "127.0.0.1"], ForwardedHeader::XForwardedFor);
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1")], "198.51.100.1");
        // The client put a made-up address first; the proxies appended what they saw.
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.0.0.5")], "198.51.100.1");
        // Several header lines are one list, in order.
        check(
            &trusted,
            "10.1.1.1",
            &[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.1, 10.0.0.5")],
            "198.51.100.1",
        );
        // Ports, and IPv6 with and without brackets.
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1:5555")], "198.51.100.1");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "[2001:db8::7]:443")], "2001:db8::7");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "2001:db8::7")], "2001:db8::7");
        // Everything trusted: the furthest proxy is the best there is.
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "10.0.0.9, 10.0.0.5")], "10.0.0.9");
        // No header: the proxy itself.
        check(&trusted, "127.0.0.1", &[], "127.0.0.1");
        // An IPv4 peer through an IPv6 socket is the IPv4 address.
        check(&trusted, "::ffff:127.0.0.1", &[("x-forwarded-for", "198.51.100.1")], "198.51.100.1");
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let xff = proxies(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        check(&xff, "127.0.0.1", &[("forwarded", "for=198.51.100.1")], "127.0.0.1");
        let forwarded = proxies(&["127.0.0.1"], ForwardedHeader::Forwarded);
        check(&forwarded, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1")], "127.0.0.1");
    }

    #[test]
    fn forwarded_for_syntax() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"], ForwardedHeader::Forwarded);
        check(&trusted, "127.0.0.1", &[("forwarded", "for=198.51.100.1")], "198.51.100.1");
        check(&trusted, "127.0.0.1", &[("forwarded", "For=\"198.51.100.1:8080\";proto=https")], "198.51.100.1");
        check(&trusted, "127.0.0.1", &[("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")], "2001:db8:cafe::17");
        check(&trusted, "127.0.0.1", &[("forwarded", "for=\"[2001:db8:cafe::17]\"")], "2001:db8:cafe::17");
        check(
            &trusted,
            "127.0.0.1",
            &[("forwarded", "for=1.2.3.4, proto=http;for=198.51.100.1;by=10.0.0.5, for=10.0.0.5")],
            "198.51.100.1",
        );
        // Elements without `for=` name no hop.
        check(&trusted, "127.0.0.1", &[("forwarded", "for=198.51.100.1, proto=https")], "198.51.100.1");
    }

    #[test]
    fn garbage_stops_at_the_proxy_that_wrote_it() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "not an address")], "127.0.0.1");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1, unknown, 10.0.0.5")], "10.0.0.5");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "")], "127.0.0.1");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", ",,,")], "127.0.0.1");
        check(&trusted, "127.0.0.1", &[("x-forwarded-for", "[::1")], "127.0.0.1");
        let forwarded = proxies(&["127.0.0.1"], ForwardedHeader::Forwarded);
        check(&forwarded, "127.0.0.1", &[("forwarded", "for=_hidden")], "127.0.0.1");
        check(&forwarded, "127.0.0.1", &[("forwarded", "for=unknown")], "127.0.0.1");
        check(&forwarded, "127.0.0.1", &[("forwarded", ";;=;=,")], "127.0.0.1");
        // A value that is not text at all.
        let mut binary = HeaderMap::new();
        binary.insert("x-forwarded-for", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(trusted.client(ip("127.0.0.1"), &binary), ip("127.0.0.1"));
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let trusted = proxies(&["10.0.0.0/8", " 192.0.2.1 ", "fd00::/8", "::1"], ForwardedHeader::XForwardedFor);
        assert!(trusted.trusts(ip("10.200.0.1")));
        assert!(trusted.trusts(ip("192.0.2.1")));
        assert!(!trusted.trusts(ip("192.0.2.2")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(trusted.trusts(ip("::1")));
        let error = TrustedProxies::parse(&["10.0.0.0/33".to_owned()], ForwardedHeader::XForwardedFor).unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!(TrustedProxies::parse(&["proxy.example.com".to_owned()], ForwardedHeader::XForwardedFor).is_err());
    }

    fn limits(max_concurrent_uploads: usize, max_auth_failures_per_minute: u32) -> Limits {
        let live = LiveLimits { max_concurrent_uploads, max_auth_failures_per_minute, min_upload_rate: None };
        Limits::new(live, Duration::from_secs(60))
    }

    #[test]
    fn reloaded_limits_apply_to_the_next_upload_and_failure() {
        let limits = limits(2, 5);
        let a = limits.upload_slot(1).unwrap();
        let b = limits.upload_slot(1).unwrap();
        let rate = MinRate { bytes_per_sec: 10, window: Duration::from_secs(5) };
        limits.update(LiveLimits {
            max_concurrent_uploads: 3,
            max_auth_failures_per_minute: 2,
            min_upload_rate: Some(rate),
        });
        let c = limits.upload_slot(1).expect("a third slot once the limit is 3");
        assert!(limits.upload_slot(1).is_err());
        assert_eq!(limits.auth_allowance().max, 2);
        assert_eq!(limits.min_upload_rate(), Some(rate));
        // Lowered below what is running: the running uploads go on, new ones wait for the
        // count to fall under the new limit.
        limits.update(LiveLimits { max_concurrent_uploads: 1, max_auth_failures_per_minute: 2, min_upload_rate: None });
        drop(a);
        assert!(limits.upload_slot(1).is_err(), "2 still running, limit 1");
        drop((b, c));
        let _d = limits.upload_slot(1).expect("under the lowered limit");
        assert!(limits.upload_slot(1).is_err());
        assert_eq!(limits.live().min_upload_rate, None);
    }

    #[test]
    fn upload_slots_are_bounded_and_released() {
        let limits = limits(2, 5);
        let a = limits.upload_slot(1).unwrap();
        let _b = limits.upload_slot(1).unwrap();
        let refused = limits.upload_slot(1).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(limits.upload_slot(2).is_ok(), "another integration has its own slots");
        drop(a);
        assert!(limits.upload_slot(1).is_ok());
    }

    fn slow_stream(
        rate: MinRate,
    ) -> (
        futures::channel::mpsc::UnboundedSender<io::Result<Bytes>>,
        TooSlow<impl Stream<Item = io::Result<Bytes>> + Unpin>,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let tripped = Arc::new(AtomicBool::new(false));
        (tx, TooSlow::new(rx, rate, tripped.clone()), tripped)
    }

    #[tokio::test]
    async fn uploads_slower_than_the_minimum_rate_fail() {
        use futures::StreamExt;
        let rate = MinRate { bytes_per_sec: 10, window: Duration::from_secs(1) };
        // One byte, then nothing: the window of 1 s brings 1 byte of the 10 it needs.
        let (tx, mut slow, tripped) = slow_stream(rate);
        tx.unbounded_send(Ok(Bytes::from_static(b"a"))).unwrap();
        assert_eq!(slow.next().await.unwrap().unwrap(), "a");
        let error = slow.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(tripped.load(Ordering::Relaxed));

        // A sender that says nothing at all fails as well: the timer, not a chunk, ends the window.
        let (_tx, mut silent, tripped) = slow_stream(rate);
        assert_eq!(silent.next().await.unwrap().unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn uploads_above_the_minimum_rate_pass_whole() {
        use futures::StreamExt;
        let rate = MinRate { bytes_per_sec: 10, window: Duration::from_secs(1) };
        let (tx, mut steady, tripped) = slow_stream(rate);
        let sender = tokio::spawn(async move {
            // 10 bytes every 50 ms, twenty times the minimum, for more than a window.
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tx.unbounded_send(Ok(Bytes::from(vec![b'x'; 10]))).unwrap();
            }
        });
        let mut total = 0;
        while let Some(chunk) = steady.next().await {
            total += chunk.unwrap().len();
        }
        sender.await.unwrap();
        assert_eq!(total, 300);
        assert!(!tripped.load(Ordering::Relaxed));
    }

    #[test]
    fn failures_lock_out_one_key_only() {
        let limits = limits(1, 3);
        let allowance = limits.auth_allowance();
        let key = |slug: &str, client: &str| FailureKey::Integration { slug: slug.into(), client: ip(client) };
        for _ in 0..3 {
            assert!(limits.check(&key("default", "127.0.0.2"), allowance).is_ok());
            limits.record_failure(&key("default", "127.0.0.2"), allowance, "invalid apiKey");
        }
        let refused = limits.check(&key("default", "127.0.0.2"), allowance).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.into_response().headers().contains_key("retry-after"));
        assert!(limits.check(&key("other", "127.0.0.2"), allowance).is_ok(), "another integration");
        assert!(limits.check(&key("default", "127.0.0.3"), allowance).is_ok(), "another client");
        assert!(limits.check(&FailureKey::Admin { client: ip("127.0.0.2") }, allowance).is_ok(), "another kind");
    }

    #[test]
    fn forgetting_one_key_keeps_the_others() {
        let limits = limits(1, 2);
        let allowance = limits.auth_allowance();
        let bob_a = FailureKey::LoginUser { username: "bob".into(), client: ip("127.0.0.2") };
        let bob_b = FailureKey::LoginUser { username: "bob".into(), client: ip("127.0.0.3") };
        for key in [&bob_a, &bob_a, &bob_b, &bob_b] {
            limits.record_failure(key, allowance, "wrong password");
        }
        limits.forget(&bob_b);
        assert!(limits.check(&bob_b, allowance).is_ok());
        assert!(limits.check(&bob_a, allowance).is_err(), "a login from B does not clear A's failures");
    }

    #[test]
    fn the_backoff_grows_and_stays_bounded() {
        let limits = limits(1, 5);
        let window = Duration::from_secs(900);
        let max = Duration::from_secs(5);
        for _ in 0..4 {
            limits.record_backoff_failure("bob", window);
        }
        assert_eq!(limits.backoff("bob", 5, window, max), Duration::ZERO);
        limits.record_backoff_failure("bob", window);
        assert_eq!(limits.backoff("bob", 5, window, max), Duration::from_secs(1));
        limits.record_backoff_failure("bob", window);
        assert_eq!(limits.backoff("bob", 5, window, max), Duration::from_secs(2));
        for _ in 0..100 {
            limits.record_backoff_failure("bob", window);
        }
        assert_eq!(limits.backoff("bob", 5, window, max), max, "never longer than the configured maximum");
        assert_eq!(limits.backoff("ann", 5, window, max), Duration::ZERO, "per user");
    }

    /// The log lines of `work`, as the default formatter writes them.
    ///
    /// Through one process-wide subscriber that writes into the calling thread's buffer, not a
    /// thread-local `with_default`: tracing caches each log call's interest process-wide, and a
    /// test on another thread reaching the same call with no subscriber made this one lose its
    /// lockout line, about one run in ten.
    fn logged(work: impl FnOnce()) -> String {
        thread_local! {
            static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
        }
        struct ThreadBuffer;
        impl std::io::Write for ThreadBuffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                CAPTURED.with(|c| c.borrow_mut().as_mut().map(|buffer| buffer.extend_from_slice(bytes)));
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(|| ThreadBuffer)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in these tests");
        });
        CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
        work();
        let captured = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
        String::from_utf8(captured).unwrap()
    }

    #[test]
    fn failures_and_lockouts_are_logged_with_client_and_integration_sampled() {
        let limits = limits(1, 30);
        let allowance = limits.auth_allowance();
        let key = FailureKey::Integration { slug: "default".into(), client: ip("127.0.0.2") };
        let log = logged(|| {
            for _ in 0..30 {
                limits.record_failure(&key, allowance, "invalid apiKey");
            }
        });
        let failures: Vec<&str> = log.lines().filter(|l| l.contains("failed authentication")).collect();
        // The 1st, 10th and 20th; the 30th is the lockout.
        assert_eq!(failures.len(), 3, "{log}");
        assert!(failures[0].contains("integration default from 127.0.0.2"), "{log}");
        assert!(failures[0].contains("invalid apiKey"), "{log}");
        let lockouts: Vec<&str> = log.lines().filter(|l| l.contains("authentication lockout")).collect();
        assert_eq!(lockouts.len(), 1, "{log}");
        assert!(lockouts[0].contains("integration default from 127.0.0.2") && lockouts[0].contains("failures=30"));
    }
}
