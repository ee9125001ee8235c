//! Meta's platforms as agents read them: a customer whose profile Meta will not share is
//! shown as "Messenger user 1234" / "Instagram user 1234" (the engine's stand-in names).

use wbots_core::{Channel, ChannelKind, Secret};
use wbots_meta::{INSTAGRAM, MESSENGER, MetaAccount, MetaChannel, MetaConfig};

#[test]
fn meta_names_its_platforms() {
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"));
    let channel = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("page-token")))
        .build()
        .unwrap();
    assert_eq!(channel.platform_name(&MESSENGER), "Messenger");
    assert_eq!(channel.platform_name(&INSTAGRAM), "Instagram");
    // The stored names are the ones stored before core stopped naming them.
    assert_eq!((MESSENGER.as_str(), INSTAGRAM.as_str()), ("messenger", "instagram"));
    assert_eq!(channel.platform_name(&ChannelKind::new("telegram")), "telegram");
}
