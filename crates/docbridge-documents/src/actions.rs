//! `/customAction` (C18): the actions an integration declares, run on an item that Workfront
//! names by its own document IDs (recorded at `/uploadInit`) or that a caller names by our ID.
//!
//! `webhook` POSTs an [`ActionEvent`] signed with HMAC-SHA256 to a URL the administrator
//! configured, retrying with backoff when the receiver is down or overloaded.

use std::sync::OnceLock;
use std::time::Duration;

use docbridge_protocol::{
    ActionEvent, ActionEventItem, CUSTOM_ACTION_EVENT, DELIVERY_HEADER, EVENT_HEADER, ItemId, ItemKind,
    SIGNATURE_HEADER,
};
use docbridge_registry::{ActionKind, ActionSecret, CustomActionSpec, Integration, ItemRecord, NewItem};
use docbridge_storage::{StorageError, StoragePath, WriteMode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Caller, DocumentsError, Library, Resolved, Result};

/// How an action that ran turned out. Both answer 200; a failure carries the message Workfront
/// shows the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// The action ran: `{"status":"success"}`.
    Success,
    /// The action failed, for this reason: `{"status":"failure"}` with the message.
    Failure(String),
}

/// The item an action applies to.
#[derive(Debug, Clone, Copy)]
pub enum ActionTarget<'a> {
    /// By the provider's own item ID.
    Id(&'a ItemId),
    /// By Workfront's document (and version) ID, as Workfront sends it.
    Workfront {
        /// Workfront's document ID.
        document_id: &'a str,
        /// Workfront's document version ID, when sent.
        version_id: Option<&'a str>,
    },
}

impl Library {
    /// Runs the named action. An unknown action is `InvalidInput`, an unresolvable item is
    /// `NotFound`; anything that goes wrong while the action runs is a `Failure` outcome.
    pub async fn custom_action(
        &self,
        caller: &Caller,
        integration: &Integration,
        name: &str,
        target: ActionTarget<'_>,
    ) -> Result<ActionOutcome> {
        let action = integration
            .custom_actions
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| DocumentsError::invalid("name", format!("no custom action named {name:?}")))?;
        let id = match target {
            ActionTarget::Id(id) => id.clone(),
            ActionTarget::Workfront { document_id, version_id } => {
                let reservation = match self
                    .registry
                    .reservation_by_workfront_ids(self.integration_id, document_id, version_id)
                    .await?
                {
                    Some(r) => Some(r),
                    // Workfront may act on a later version of a document sent to us earlier.
                    None if version_id.is_some() => {
                        self.registry.reservation_by_workfront_ids(self.integration_id, document_id, None).await?
                    }
                    None => None,
                };
                reservation.map(|r| r.id).ok_or_else(|| {
                    DocumentsError::NotFound(format!("no document sent from Workfront with documentId {document_id}"))
                })?
            }
        };
        let record = match self.resolve_completing(caller, &id).await? {
            Resolved::Item(record) if !id.is_root() => record,
            _ => return Err(DocumentsError::invalid("id", "actions do not apply to the root folder")),
        };
        if !caller.can_write() {
            return Ok(ActionOutcome::Failure(format!("{} may not change documents here", caller.username)));
        }
        let result = match &action.kind {
            ActionKind::Move { folder } => self.action_move(&record, folder).await,
            ActionKind::Copy { folder } => self.action_copy(&record, folder).await,
            ActionKind::Lock => self.registry.set_item_locked(&record, true).await.map_err(DocumentsError::from),
            ActionKind::Webhook { url, secret, timeout_secs, retries } => {
                let (document_id, document_version_id) = match target {
                    ActionTarget::Workfront { document_id, version_id } => {
                        (Some(document_id.to_owned()), version_id.map(str::to_owned))
                    }
                    ActionTarget::Id(_) => (None, None),
                };
                let view = self.view(caller, record).await;
                let event = ActionEvent {
                    event: CUSTOM_ACTION_EVENT.to_owned(),
                    delivery: docbridge_registry::random_id(),
                    action: action.name.clone(),
                    integration: integration.slug.clone(),
                    user: caller.username.clone(),
                    occurred_at: chrono::Utc::now(),
                    document_id,
                    document_version_id,
                    item: ActionEventItem {
                        id: view.record.id.clone(),
                        title: view.record.name.clone(),
                        kind: view.record.kind,
                        date_modified: view.record.modified,
                        size: if view.record.kind == ItemKind::File { view.record.size } else { 0 },
                        mime_type: view.mime_type.clone(),
                        read_only: view.read_only,
                        path: view.record.path.clone(),
                    },
                };
                let delivery =
                    WebhookDelivery { url, secret, timeout: Duration::from_secs(*timeout_secs), retries: *retries };
                return Ok(delivery.send(action, &event).await);
            }
        };
        Ok(match result {
            Ok(()) => ActionOutcome::Success,
            Err(DocumentsError::Registry(e)) => return Err(DocumentsError::Registry(e)),
            Err(DocumentsError::Storage(e)) => return Err(DocumentsError::Storage(e)),
            Err(DocumentsError::Internal(e)) => return Err(DocumentsError::Internal(e)),
            Err(other) => ActionOutcome::Failure(other.to_string()),
        })
    }

    /// The folder at a `/`-separated path from the root, created (with its parents) if needed.
    async fn ensure_folder_path(&self, folder: &str) -> Result<ItemId> {
        let mut parent = ItemId::root();
        let mut resolved = Resolved::Root;
        for name in folder.split('/').filter(|n| !n.is_empty()) {
            let children = self.reconciled_children(&resolved, &parent).await?;
            let record = match children.into_iter().find(|c| c.name == name) {
                Some(c) if c.kind == ItemKind::Folder => c,
                Some(_) => return Err(DocumentsError::Conflict(format!("{name:?} exists and is not a folder"))),
                None => {
                    let (parent_path, _, parent_key) = Library::location(&resolved)?;
                    let path = parent_path.join(name).map_err(DocumentsError::from)?;
                    let entry = match self.storage.create_dir(&path).await {
                        Ok(entry) => entry,
                        Err(StorageError::AlreadyExists(_)) => self.storage.stat(&path).await?,
                        Err(e) => return Err(e.into()),
                    };
                    let new = NewItem {
                        id: None,
                        integration_id: self.integration_id,
                        parent_id: parent.clone(),
                        path: docbridge_registry::child_path(&parent_key, name),
                        name: name.to_owned(),
                        kind: ItemKind::Folder,
                        size: 0,
                        modified: entry.modified,
                    };
                    match self.registry.insert_item(new.clone()).await {
                        Ok(record) => record,
                        Err(docbridge_registry::RegistryError::Conflict(_)) => self
                            .registry
                            .item_by_path(self.integration_id, &new.path)
                            .await?
                            .ok_or_else(|| DocumentsError::Conflict(format!("{name:?} vanished")))?,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            parent = record.id.clone();
            resolved = Resolved::Item(record);
        }
        Ok(parent)
    }

    async fn action_move(&self, record: &ItemRecord, folder: &str) -> Result<()> {
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        let target = self.ensure_folder_path(folder).await?;
        if record.parent_id == target {
            return Ok(());
        }
        if target == record.id
            || self
                .registry
                .item(self.integration_id, &target)
                .await?
                .is_some_and(|t| t.path.starts_with(&format!("{}/", record.path)))
        {
            return Err(DocumentsError::invalid("name", format!("{:?} cannot be moved into itself", record.name)));
        }
        let taken = self.registry.children(self.integration_id, &target).await?.into_iter().map(|c| c.name).collect();
        let name = crate::transfer::free_name(&record.name, &taken);
        self.move_record(record, &target, &name).await
    }

    async fn action_copy(&self, record: &ItemRecord, folder: &str) -> Result<()> {
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        let target = self.ensure_folder_path(folder).await?;
        let target_path = if target.is_root() {
            String::new()
        } else {
            self.registry.item(self.integration_id, &target).await?.map(|t| t.path).unwrap_or_default()
        };
        if target_path == record.path || target_path.starts_with(&format!("{}/", record.path)) {
            return Err(DocumentsError::invalid("name", format!("{:?} cannot be copied into itself", record.name)));
        }
        let taken = self.registry.children(self.integration_id, &target).await?.into_iter().map(|c| c.name).collect();
        let name = crate::transfer::free_name(&record.name, &taken);
        let from = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let to =
            StoragePath::parse(&docbridge_registry::child_path(&target_path, &name)).map_err(DocumentsError::from)?;
        self.copy_tree(&from, &to).await?;
        // The copy's items get IDs when the index next looks at the destination folder.
        let resolved = if target.is_root() { Resolved::Root } else { self.resolve_unconfined(&target).await? };
        self.reconciled_children(&resolved, &target).await?;
        Ok(())
    }

    async fn resolve_unconfined(&self, id: &ItemId) -> Result<Resolved> {
        Ok(Resolved::Item(
            self.registry
                .item(self.integration_id, id)
                .await?
                .ok_or_else(|| DocumentsError::NotFound(format!("no item with ID {id}")))?,
        ))
    }

    /// Copies a file, or a folder with everything in it, streaming every file.
    async fn copy_tree(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let entry = self.storage.stat(from).await?;
        if entry.kind == docbridge_storage::EntryKind::File {
            let bytes = self.storage.read(from, None).await?;
            self.storage.write(to, bytes, WriteMode::CreateNew, None).await?;
            return Ok(());
        }
        self.storage.create_dir(to).await?;
        let mut tree = self.storage.walk(from).await?;
        // Parents before their children, whatever order the adapter walks in.
        tree.sort_by_key(|(path, _)| path.components().len());
        for (path, entry) in tree {
            let relative = &path.components()[from.components().len()..];
            let mut dest = to.clone();
            for name in relative {
                dest = dest.join(name).map_err(DocumentsError::from)?;
            }
            if entry.kind == docbridge_storage::EntryKind::Dir {
                self.storage.create_dir(&dest).await?;
            } else {
                let bytes = self.storage.read(&path, None).await?;
                self.storage.write(&dest, bytes, WriteMode::CreateNew, None).await?;
            }
        }
        Ok(())
    }
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of `body` under `secret`: the value of the
/// signature header. A receiver recomputes it over the raw body and compares in constant time.
pub fn sign_action_body(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps it total.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One process-wide HTTP client: it pools connections to receivers. Redirects are not
/// followed, so a receiver cannot bounce the signed body to a URL the administrator never set.
fn http_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("docbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(CLIENT.get_or_init(|| client))
}

/// The wait before retry `attempt` (1-based): 250 ms, doubling, at most 4 s, so that a receiver
/// that restarts gets a moment without stretching a Workfront click past its patience.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(4))).min(Duration::from_secs(4))
}

/// Whether a status means "try again later" rather than "this will never work".
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
}

struct WebhookDelivery<'a> {
    url: &'a str,
    secret: &'a ActionSecret,
    timeout: Duration,
    retries: u32,
}

impl WebhookDelivery<'_> {
    /// Delivers the event; a 2xx answer is success. Connection errors, timeouts, 5xx, 408 and
    /// 429 are retried; any other answer fails at once. The message of a failure is what
    /// Workfront shows its user, so it says what happened without the URL; the log has it.
    async fn send(&self, action: &CustomActionSpec, event: &ActionEvent) -> ActionOutcome {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => return ActionOutcome::Failure(format!("could not encode the event: {e}")),
        };
        let signature = sign_action_body(self.secret.expose(), &body);
        let client = match http_client() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "building the webhook HTTP client");
                return ActionOutcome::Failure("could not call the webhook".into());
            }
        };
        let attempts = self.retries.saturating_add(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let sent = client
                .post(self.url)
                .timeout(self.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header(DELIVERY_HEADER, &event.delivery)
                .header(EVENT_HEADER, CUSTOM_ACTION_EVENT)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(action = %action.name, delivery = %event.delivery, attempt = attempt + 1, "webhook delivered");
                    return ActionOutcome::Success;
                }
                Ok(response) => {
                    let status = response.status();
                    tracing::warn!(action = %action.name, url = %self.url, %status, attempt = attempt + 1, "webhook refused");
                    last = format!("the receiver answered {status}");
                    if !retryable(status) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(action = %action.name, url = %self.url, error = %e, attempt = attempt + 1, "webhook not delivered");
                    last = if e.is_timeout() {
                        "the receiver did not answer in time".into()
                    } else {
                        "the receiver could not be reached".into()
                    };
                }
            }
        }
        ActionOutcome::Failure(format!("action {:?} failed: {last}", action.display_name))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use docbridge_registry::{AuthType, DefaultRole, KeyHash, NewIntegration, Registry, Role};
    use docbridge_storage::MemoryStorage;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::{Caller, LibrarySettings};

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign_action_body("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(4));
    }

    /// A request as the receiver saw it.
    struct Received {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
    }

    /// A minimal HTTP/1.1 receiver on 127.0.0.1 answering `statuses` in turn, one connection
    /// per request, and reporting every request it read.
    async fn receiver(statuses: Vec<u16>) -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for status in statuses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "connection closed before the request was complete");
                    data.extend_from_slice(&buf[..n]);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.split_once(':')
                                    .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                                    .map(|(_, v)| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while data.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap();
                    data.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                tx.send(Received { headers, body: data[head_end..head_end + length].to_vec() }).unwrap();
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.ok();
            }
        });
        (url, rx)
    }

    async fn library_with(action: CustomActionSpec) -> (Library, Integration, ItemId) {
        let registry = Registry::connect("sqlite::memory:").await.unwrap();
        let integration = registry
            .create_integration(NewIntegration {
                slug: "hooks".into(),
                name: "Hooks".into(),
                auth_type: AuthType::ApiKey,
                redirect_uris: Vec::new(),
                request_params: Vec::new(),
                storage_kind: "memory".into(),
                storage_root: "mem".into(),
                default_role: DefaultRole::Editor,
                custom_actions: vec![action],
                api_key: Some(KeyHash { hash: "h".into(), hint: "h".into() }),
                client: None,
            })
            .await
            .unwrap();
        let settings = Arc::new(LibrarySettings {
            cache_dir: std::env::temp_dir().join("docbridge-actions-test"),
            ..LibrarySettings::default()
        });
        let library = Library::new(integration.id, "Hooks", Arc::new(MemoryStorage::new()), registry, settings);
        let caller = editor();
        let view =
            library.upload_init(&caller, &ItemId::root(), "report.txt", Some("wf-1"), Some("wf-1-v1")).await.unwrap();
        let bytes: docbridge_storage::ByteStream =
            Box::pin(futures::stream::once(async { Ok(bytes::Bytes::from_static(b"hello")) }));
        library.upload(&caller, &view.record.id, bytes).await.unwrap();
        (library, integration, view.record.id)
    }

    fn editor() -> Caller {
        Caller { username: "ann@example.com".into(), role: Role::Editor, folder: None, items_seen: None }
    }

    fn webhook(url: &str, retries: u32) -> CustomActionSpec {
        CustomActionSpec {
            name: "notify".into(),
            display_name: "Notify".into(),
            kind: ActionKind::Webhook {
                url: url.into(),
                secret: ActionSecret::new("0123456789abcdef-secret"),
                timeout_secs: 5,
                retries,
            },
        }
    }

    #[tokio::test]
    async fn webhook_posts_signed_metadata_and_retries() {
        let (url, mut requests) = receiver(vec![503, 200]).await;
        let (library, integration, id) = library_with(webhook(&url, 3)).await;
        let target = ActionTarget::Workfront { document_id: "wf-1", version_id: Some("wf-1-v1") };
        let outcome = library.custom_action(&editor(), &integration, "notify", target).await.unwrap();
        assert_eq!(outcome, ActionOutcome::Success);
        let first = requests.recv().await.unwrap();
        let second = requests.recv().await.unwrap();
        assert_eq!(first.body, second.body, "a retry sends the same body");
        assert_eq!(first.header(DELIVERY_HEADER), second.header(DELIVERY_HEADER));
        assert_eq!(second.header(SIGNATURE_HEADER).unwrap(), sign_action_body("0123456789abcdef-secret", &second.body));
        assert_eq!(second.header(EVENT_HEADER), Some(CUSTOM_ACTION_EVENT));
        assert_eq!(second.header("content-type"), Some("application/json"));
        let event: ActionEvent = serde_json::from_slice(&second.body).unwrap();
        assert_eq!(event.action, "notify");
        assert_eq!(event.integration, "hooks");
        assert_eq!(event.user, "ann@example.com");
        assert_eq!(event.document_id.as_deref(), Some("wf-1"));
        assert_eq!(event.item.id, id);
        assert_eq!(event.item.title, "report.txt");
        assert_eq!(event.item.size, 5);
        assert_eq!(event.item.mime_type, "text/plain");
    }

    #[tokio::test]
    async fn webhook_failures_are_reported_to_workfront() {
        // A 4xx is final: one attempt, whatever the retry budget.
        let (url, mut requests) = receiver(vec![400]).await;
        let (library, integration, id) = library_with(webhook(&url, 3)).await;
        let outcome = library.custom_action(&editor(), &integration, "notify", ActionTarget::Id(&id)).await.unwrap();
        assert_eq!(
            outcome,
            ActionOutcome::Failure("action \"Notify\" failed: the receiver answered 400 Bad Request".into())
        );
        assert!(requests.recv().await.is_some());
        assert!(requests.recv().await.is_none(), "no retry after a 4xx");

        // Retries run out.
        let (url, _requests) = receiver(vec![500, 502]).await;
        let (library, integration, id) = library_with(webhook(&url, 1)).await;
        let outcome = library.custom_action(&editor(), &integration, "notify", ActionTarget::Id(&id)).await.unwrap();
        assert!(matches!(&outcome, ActionOutcome::Failure(m) if m.contains("502")), "{outcome:?}");

        // Nobody listens.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", closed.local_addr().unwrap());
        drop(closed);
        let (library, integration, id) = library_with(webhook(&url, 0)).await;
        let outcome = library.custom_action(&editor(), &integration, "notify", ActionTarget::Id(&id)).await.unwrap();
        assert_eq!(
            outcome,
            ActionOutcome::Failure("action \"Notify\" failed: the receiver could not be reached".into())
        );
    }
}
