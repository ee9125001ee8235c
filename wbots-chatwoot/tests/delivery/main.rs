//! The bridge against a Chatwoot that delivers as Chatwoot really does (one webhook attempt,
//! failures marked on the message, `message_updated` for every change): agent messages
//! reach the customer once, whatever Chatwoot could or could not hand over.

mod points;
mod rig;
