//! Notifications plugins ask for (`notify.send`): recorded in the target's notification log, then
//! e-mailed through the configured SMTP relay (`smtp_url`), each outcome written back to the log
//! (`sent`, `failed: …`). Without a relay they are only recorded. Subjects and texts are the plugin's;
//! they never reach the gateway's own log.

use crate::plugins::call::Notice;
use crate::store::DynStore;
use crate::store::jobs::NewNotice;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long one e-mail may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    default_to: Option<Mailbox>,
}

pub struct Notifier {
    store: DynStore,
    smtp: Option<Smtp>,
}

impl Notifier {
    /// A notifier e-mailing through `smtp_url` (None: record only).
    pub fn new(
        store: DynStore,
        smtp_url: Option<&str>,
        from: &str,
        default_to: Option<&str>,
    ) -> anyhow::Result<Notifier> {
        let smtp = match smtp_url {
            None => None,
            Some(url) => {
                // The URL may hold a password: errors name the setting, never the value.
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("smtp_url is not a usable SMTP URL: {e}"))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                let from: Mailbox =
                    from.parse().map_err(|e| anyhow::anyhow!("smtp_from {from:?} is not an e-mail address: {e}"))?;
                let default_to = match default_to {
                    Some(to) => Some(
                        to.parse()
                            .map_err(|e| anyhow::anyhow!("smtp_default_to {to:?} is not an e-mail address: {e}"))?,
                    ),
                    None => None,
                };
                Some(Smtp { transport, from, default_to })
            }
        };
        Ok(Notifier { store, smtp })
    }

    /// The notices as rows to record: `pending` when they are about to be e-mailed, else `recorded`.
    pub fn to_record(&self, notices: &[Notice]) -> Vec<NewNotice> {
        let delivery = if self.smtp.is_some() { "pending" } else { "recorded" };
        notices
            .iter()
            .map(|n| NewNotice {
                kind: n.kind.clone(),
                subject: n.subject.clone(),
                text: n.text.clone(),
                recipient: n.recipient.clone(),
                delivery: delivery.to_owned(),
            })
            .collect()
    }

    /// E-mails recorded notices (ids as recorded, in the same order) and writes each outcome back.
    pub async fn send(&self, tenant: &str, target: &str, ids: &[i64], notices: &[NewNotice]) {
        let Some(smtp) = &self.smtp else { return };
        for (id, n) in ids.iter().zip(notices) {
            let outcome = match self.email(smtp, tenant, target, n).await {
                Ok(()) => "sent".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            metrics::counter!("plugin_notifications_total", "outcome" => if outcome == "sent" { "sent" } else { "failed" })
                .increment(1);
            if outcome != "sent" {
                tracing::warn!(tenant, target, notification = id, "a notification could not be e-mailed");
            }
            if let Err(e) = self.store.set_notice_delivery(*id, &outcome).await {
                tracing::warn!(error = %e, notification = id, "cannot record a notification's delivery");
            }
        }
    }

    async fn email(&self, smtp: &Smtp, tenant: &str, target: &str, n: &NewNotice) -> Result<(), String> {
        let to: Mailbox = match &n.recipient {
            Some(r) => r.parse().map_err(|e| format!("recipient is not an e-mail address: {e}"))?,
            None => smtp.default_to.clone().ok_or("no recipient, and no smtp_default_to is configured")?,
        };
        let message = Message::builder()
            .from(smtp.from.clone())
            .to(to)
            .subject(format!("[{tenant}/{target}] {}", n.subject))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(format!("{}\n\n-- \nkind: {}\ntenant: {tenant}, target: {target}\n", n.text, n.kind))
            .map_err(|e| format!("cannot build the e-mail: {e}"))?;
        smtp.transport.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }
}
