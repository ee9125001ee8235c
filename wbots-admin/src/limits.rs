//! Sign-in attempts, rate-limited for the whole page (with `governor`).
//!
//! Not per client address: behind a reverse proxy every visitor has the proxy's, and the
//! page has no trusted way to learn the real one. Global limits are what matters anyway:
//! - **password sign-ins** go to Chatwoot from the bridge's own address, where Chatwoot's
//!   Rack::Attack allows 5 per 5 minutes in total (`login/ip`,
//!   chatwoot-signin-and-sweep.md §1.9): the page keeps under that, so a burst of wrong
//!   passwords is refused here with a clear message instead of locking the bridge out of
//!   Chatwoot for five minutes;
//! - **token sign-ins and MFA codes** are checked against `/api/v1/profile` and
//!   `/auth/sign_in`: at most 20 a minute, which bounds guessing (a Chatwoot token is 24
//!   random characters; a 6-digit code is why MFA has its own, tighter budget of 10).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

fn quota(burst: u32, per: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    // One attempt back every `per / burst`, at most `burst` at once.
    Quota::with_period(per / burst.get())
        .map(|q| q.allow_burst(burst))
        .unwrap_or_else(|| Quota::per_minute(burst))
}

/// The page's sign-in budgets.
#[derive(Debug)]
pub struct SignInLimits {
    password: Limiter,
    token: Limiter,
    mfa: Limiter,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            password: RateLimiter::direct(quota(5, Duration::from_secs(300))),
            token: RateLimiter::direct(quota(20, Duration::from_secs(60))),
            mfa: RateLimiter::direct(quota(10, Duration::from_secs(60))),
        }
    }
}

/// Which budget an attempt draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// E-mail and password.
    Password,
    /// A personal access token.
    Token,
    /// An MFA code.
    Mfa,
}

impl SignInLimits {
    /// Whether one more attempt of this kind may go now.
    pub fn allow(&self, attempt: Attempt) -> bool {
        let limiter = match attempt {
            Attempt::Password => &self.password,
            Attempt::Token => &self.token,
            Attempt::Mfa => &self.mfa,
        };
        limiter.check().is_ok()
    }
}
