//! The model of the library that `cargo xtask chaos` checks docbridge against: for every item a
//! client made, what the operations acknowledged so far say it must be, or, after an operation
//! that failed or was cut, the states it may be in until it is next observed. Pure bookkeeping,
//! no I/O, so that its checks have tests of their own (below) and are known to fail when they
//! should.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// An item ID as docbridge gave it.
pub type Id = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
}

/// Where an item is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub parent: Id,
    pub name: String,
    pub kind: Kind,
    /// A file's content: its length and hash ([`digest`]); `None` for a folder.
    pub content: Option<(usize, u64)>,
    /// Set when docbridge may have given the item a free variant of `name` (`x (1).bin`): a
    /// move or restore into a folder where the name was taken. The first observation fixes it.
    pub name_may_vary: bool,
}

/// What an item may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// `/uploadInit` answered, no bytes arrived yet: not listed, not downloadable.
    Reserved {
        parent: Id,
        name: String,
    },
    Live(Placed),
    /// In the trash; `was` is where it stood.
    Deleted {
        was: Placed,
    },
}

impl State {
    pub fn live(&self) -> Option<&Placed> {
        match self {
            State::Live(p) => Some(p),
            _ => None,
        }
    }
}

/// One operation as a client issued it, kept so that a failure can show the history of the
/// items it touched.
#[derive(Clone, Debug)]
pub struct Op {
    pub seq: u64,
    pub client: usize,
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub what: String,
    pub ids: Vec<Id>,
    pub outcome: String,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} +{}ms client {}: {} -> {}", self.seq, self.at_ms, self.client, self.what, self.outcome)
    }
}

/// What the checker found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub ids: Vec<Id>,
    pub message: String,
}

/// What one look at an item found, through one process.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// `/metadata`: the title and kind, or `None` for a 404.
    pub metadata: Option<(String, Kind)>,
    /// `/download` of a file: length and hash, or `None` when it did not answer 200.
    pub content: Option<(usize, u64)>,
    /// For each folder looked into, the names under which this ID was listed there.
    pub listed: BTreeMap<Id, Vec<String>>,
}

/// One entry of a `/files` listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: Id,
    pub name: String,
    pub kind: Kind,
}

/// A cheap, stable content hash: FNV-1a, 64 bits (collisions among a run's few thousand random
/// files are not a concern; the length is compared too).
pub fn digest(bytes: &[u8]) -> (usize, u64) {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (bytes.len(), hash)
}

/// Whether `candidate` is `name` or one of the free variants docbridge makes of it
/// (`report (3).pdf` of `report.pdf`, `README (1)` of `README`).
pub fn is_free_variant(name: &str, candidate: &str) -> bool {
    if candidate == name {
        return true;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let Some(rest) = candidate.strip_suffix(ext) else { return false };
    let Some(open) = rest.rfind(" (") else { return false };
    let number = &rest[open + 2..];
    stem.starts_with(&rest[..open])
        && number.strip_suffix(')').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The model of one client's part of the library (each client is the only writer below its own
/// folder, so that what it expects there is exact).
#[derive(Debug, Default)]
pub struct Model {
    /// Each item's possible states: one when settled, two or more after an uncertain operation.
    items: HashMap<Id, Vec<State>>,
    /// The folders this client owns (its own folder included): listings there must show exactly
    /// the model's items.
    folders: HashSet<Id>,
    /// Items already reported as anomalies: no longer checked, so that one fault is one report.
    quarantined: HashSet<Id>,
}

impl Model {
    /// A folder the client owns from the start (made before the run).
    pub fn own_folder(&mut self, id: &str, state: State) {
        self.folders.insert(id.to_owned());
        self.items.insert(id.to_owned(), vec![state]);
    }

    pub fn owns_folder(&self, id: &str) -> bool {
        self.folders.contains(id)
    }

    /// Stops checking an item (it was reported); its last known states stay for its folder's
    /// sake.
    pub fn quarantine(&mut self, id: &str) {
        self.quarantined.insert(id.to_owned());
    }

    pub fn is_quarantined(&self, id: &str) -> bool {
        self.quarantined.contains(id)
    }

    /// Items that are or may be in `folder` (anything but deleted).
    pub fn children_of(&self, folder: &str) -> usize {
        self.items
            .values()
            .filter(|candidates| {
                candidates.iter().any(|s| match s {
                    State::Reserved { parent, .. } => parent == folder,
                    State::Live(p) => p.parent == folder,
                    State::Deleted { .. } => false,
                })
            })
            .count()
    }

    pub fn knows(&self, id: &str) -> bool {
        self.items.contains_key(id)
    }

    /// The one state of a settled item, `None` if unknown or uncertain.
    pub fn settled(&self, id: &str) -> Option<&State> {
        match self.items.get(id).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    pub fn candidates(&self, id: &str) -> &[State] {
        self.items.get(id).map_or(&[], Vec::as_slice)
    }

    pub fn uncertain_ids(&self) -> Vec<Id> {
        let mut ids: Vec<Id> = self
            .items
            .iter()
            .filter(|(id, c)| c.len() > 1 && !self.quarantined.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Settled items matching `filter`, sorted by ID so that a seed picks the same one.
    pub fn settled_where(&self, filter: impl Fn(&State) -> bool) -> Vec<(Id, State)> {
        let mut out: Vec<(Id, State)> = self
            .items
            .iter()
            .filter_map(|(id, c)| match c.as_slice() {
                [one] if filter(one) => Some((id.clone(), one.clone())),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Names that are or may be taken in `folder` (live or reserved, settled or not).
    pub fn names_in(&self, folder: &str) -> HashSet<String> {
        let mut names = HashSet::new();
        for state in self.items.values().flatten() {
            match state {
                State::Live(p) if p.parent == folder => {
                    names.insert(p.name.clone());
                }
                State::Reserved { parent, name } if parent == folder => {
                    names.insert(name.clone());
                }
                _ => {}
            }
        }
        names
    }

    /// An acknowledged operation: the item is now `state`, and nothing else.
    pub fn acknowledged(&mut self, id: &str, state: State) {
        if let State::Live(p) = &state
            && p.kind == Kind::Folder
        {
            self.folders.insert(id.to_owned());
        }
        self.items.insert(id.to_owned(), vec![state]);
    }

    /// An operation answered with an error or cut: the item is as it was, or as the operation
    /// would have left it.
    pub fn uncertain(&mut self, id: &str, after: State) {
        if let State::Live(p) = &after
            && p.kind == Kind::Folder
        {
            self.folders.insert(id.to_owned());
        }
        let candidates = self.items.entry(id.to_owned()).or_default();
        if !candidates.contains(&after) {
            candidates.push(after);
        }
    }

    /// The folders an observation of `id` must look into: every candidate's parent.
    pub fn parents_to_look_into(&self, id: &str) -> Vec<Id> {
        let mut parents: Vec<Id> = self
            .candidates(id)
            .iter()
            .map(|s| match s {
                State::Reserved { parent, .. } => parent.clone(),
                State::Live(p) | State::Deleted { was: p } => p.parent.clone(),
            })
            .collect();
        parents.sort();
        parents.dedup();
        parents
    }

    /// Checks one observation of `id` against its candidates and keeps those it matches: none
    /// is an anomaly (a lost or changed item, or an operation left half done).
    pub fn observe(&mut self, id: &str, seen: &Seen) -> Result<(), Anomaly> {
        if self.quarantined.contains(id) {
            return Ok(());
        }
        let Some(candidates) = self.items.get(id) else {
            return Err(Anomaly { ids: vec![id.to_owned()], message: "observed an item the model never made".into() });
        };
        let matching: Vec<State> = candidates.iter().filter_map(|c| matches(c, seen)).collect();
        if matching.is_empty() {
            return Err(Anomaly {
                ids: vec![id.to_owned()],
                message: format!("seen as {}; the model allows {}", describe_seen(seen), describe(candidates)),
            });
        }
        let mut unique = Vec::new();
        for state in matching {
            if !unique.contains(&state) {
                unique.push(state);
            }
        }
        self.items.insert(id.to_owned(), unique);
        Ok(())
    }

    /// Checks a listing of a folder this client owns: no ID twice, no name twice, every settled
    /// live item of the folder there under its ID and name, nothing there that the model does
    /// not allow there.
    pub fn check_listing(&self, folder: &str, entries: &[Entry]) -> Vec<Anomaly> {
        let mut anomalies = check_listing_shape(folder, entries);
        if !self.folders.contains(folder) {
            return anomalies;
        }
        let listed: HashMap<&str, &Entry> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
        for (id, candidates) in &self.items {
            let [State::Live(p)] = candidates.as_slice() else { continue };
            if p.parent != folder || self.quarantined.contains(id) {
                continue;
            }
            match listed.get(id.as_str()) {
                None => anomalies.push(Anomaly {
                    ids: vec![id.clone()],
                    message: format!("{:?} is missing from the listing of its folder {folder}", p.name),
                }),
                Some(e) if e.kind != p.kind || !name_fits(p, &e.name) => anomalies.push(Anomaly {
                    ids: vec![id.clone()],
                    message: format!(
                        "listed in {folder} as {:?} ({:?}); the model says {:?} ({:?})",
                        e.name, e.kind, p.name, p.kind
                    ),
                }),
                Some(_) => {}
            }
        }
        for entry in entries.iter().filter(|e| !self.quarantined.contains(&e.id)) {
            let Some(candidates) = self.items.get(&entry.id) else {
                // The items that stood under this name here: the ID it may have replaced.
                let mut ids = vec![entry.id.clone()];
                let mut before: Vec<Id> = self
                    .items
                    .iter()
                    .filter(|(_, c)| {
                        c.iter().any(|s| s.live().is_some_and(|p| p.parent == folder && p.name == entry.name))
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                before.sort();
                ids.extend(before);
                anomalies.push(Anomaly {
                    ids,
                    message: format!(
                        "{:?} is listed in {folder} under an ID the model never made (an ID changed, or an item appeared)",
                        entry.name
                    ),
                });
                continue;
            };
            let allowed = candidates.iter().any(|c| c.live().is_some_and(|p| p.parent == folder));
            if !allowed {
                anomalies.push(Anomaly {
                    ids: vec![entry.id.clone()],
                    message: format!(
                        "{:?} is listed in {folder}; the model allows {}",
                        entry.name,
                        describe(candidates)
                    ),
                });
            }
        }
        anomalies
    }
}

/// The checks any listing must pass, whoever owns the folder: no ID twice, no name twice.
pub fn check_listing_shape(folder: &str, entries: &[Entry]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut names: HashMap<&str, Vec<&str>> = HashMap::new();
    for entry in entries {
        *ids.entry(&entry.id).or_default() += 1;
        names.entry(&entry.name).or_default().push(&entry.id);
    }
    for (id, count) in ids {
        if count > 1 {
            anomalies.push(Anomaly {
                ids: vec![id.to_owned()],
                message: format!("listed {count} times in one listing of {folder}"),
            });
        }
    }
    for (name, holders) in names {
        if holders.len() > 1 {
            anomalies.push(Anomaly {
                ids: holders.iter().map(|s| (*s).to_owned()).collect(),
                message: format!("the name {name:?} holds {} items in {folder}", holders.len()),
            });
        }
    }
    anomalies.sort_by(|a, b| a.message.cmp(&b.message));
    anomalies
}

/// Checks a whole tree (folder ID → its listing): every listing's shape, and no ID in two
/// folders.
pub fn check_tree(tree: &BTreeMap<Id, Vec<Entry>>) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut homes: HashMap<&str, Vec<&str>> = HashMap::new();
    for (folder, entries) in tree {
        anomalies.extend(check_listing_shape(folder, entries));
        for entry in entries {
            homes.entry(&entry.id).or_default().push(folder);
        }
    }
    let mut twice: Vec<_> = homes.into_iter().filter(|(_, folders)| folders.len() > 1).collect();
    twice.sort();
    for (id, folders) in twice {
        anomalies
            .push(Anomaly { ids: vec![id.to_owned()], message: format!("listed in several folders: {folders:?}") });
    }
    anomalies
}

fn name_fits(placed: &Placed, observed: &str) -> bool {
    observed == placed.name || (placed.name_may_vary && is_free_variant(&placed.name, observed))
}

/// The state `candidate` becomes if `seen` matches it (a varying name fixed), or `None`.
fn matches(candidate: &State, seen: &Seen) -> Option<State> {
    let listed_anywhere = seen.listed.values().any(|names| !names.is_empty());
    match candidate {
        State::Reserved { .. } => (!listed_anywhere && seen.content.is_none()).then(|| candidate.clone()),
        State::Deleted { .. } => (!listed_anywhere && seen.metadata.is_none()).then(|| candidate.clone()),
        State::Live(p) => {
            let (name, kind) = seen.metadata.as_ref()?;
            if *kind != p.kind || !name_fits(p, name) {
                return None;
            }
            if p.kind == Kind::File && seen.content != p.content {
                return None;
            }
            // Listed once, in its folder, under that name; in no other folder looked into.
            for (folder, names) in &seen.listed {
                let expected: &[String] = if *folder == p.parent { std::slice::from_ref(name) } else { &[] };
                if names.as_slice() != expected {
                    return None;
                }
            }
            if !seen.listed.contains_key(&p.parent) {
                return None;
            }
            Some(State::Live(Placed { name: name.clone(), name_may_vary: false, ..p.clone() }))
        }
    }
}

fn describe(candidates: &[State]) -> String {
    candidates
        .iter()
        .map(|c| match c {
            State::Reserved { parent, name } => format!("reserved {name:?} in {parent}"),
            State::Live(p) => format!(
                "{:?} {:?} in {}{}",
                p.kind,
                p.name,
                p.parent,
                p.content.map(|(len, hash)| format!(" ({len} bytes, {hash:016x})")).unwrap_or_default()
            ),
            State::Deleted { was } => format!("deleted (was {:?} in {})", was.name, was.parent),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn describe_seen(seen: &Seen) -> String {
    format!(
        "metadata {}, content {}, listed {:?}",
        seen.metadata.as_ref().map_or("404".to_owned(), |(n, k)| format!("{n:?} ({k:?})")),
        seen.content.map_or("none".to_owned(), |(len, hash)| format!("{len} bytes, {hash:016x}")),
        seen.listed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(parent: &str, name: &str, bytes: &[u8]) -> Placed {
        Placed {
            parent: parent.into(),
            name: name.into(),
            kind: Kind::File,
            content: Some(digest(bytes)),
            name_may_vary: false,
        }
    }

    fn entry(id: &str, name: &str) -> Entry {
        Entry { id: id.into(), name: name.into(), kind: Kind::File }
    }

    fn seen_live(parent: &str, name: &str, bytes: &[u8]) -> Seen {
        Seen {
            metadata: Some((name.into(), Kind::File)),
            content: Some(digest(bytes)),
            listed: BTreeMap::from([(parent.to_owned(), vec![name.to_owned()])]),
        }
    }

    fn model_with_one_file() -> Model {
        let mut model = Model::default();
        model.own_folder(
            "F",
            State::Live(Placed {
                parent: "/".into(),
                name: "c0".into(),
                kind: Kind::Folder,
                content: None,
                name_may_vary: false,
            }),
        );
        model.acknowledged("A", State::Live(file("F", "a.bin", b"one")));
        model
    }

    #[test]
    fn a_faithful_library_passes() {
        let mut model = model_with_one_file();
        assert_eq!(model.observe("A", &seen_live("F", "a.bin", b"one")), Ok(()));
        assert!(model.check_listing("F", &[entry("A", "a.bin")]).is_empty());
        let tree = BTreeMap::from([
            ("/".to_owned(), vec![Entry { id: "F".into(), name: "c0".into(), kind: Kind::Folder }]),
            ("F".to_owned(), vec![entry("A", "a.bin")]),
        ]);
        assert!(check_tree(&tree).is_empty());
    }

    #[test]
    fn flags_a_lost_id() {
        let mut model = model_with_one_file();
        // The old ID answers 404 and the file is listed under a new one: what issue 14 saw.
        let seen = Seen { metadata: None, content: None, listed: BTreeMap::from([("F".to_owned(), vec![])]) };
        assert!(model.observe("A", &seen).is_err());
        let anomalies = model.check_listing("F", &[entry("B", "a.bin")]);
        assert_eq!(anomalies.len(), 2, "{anomalies:?}");
        assert!(anomalies.iter().any(|a| a.ids == ["A"] && a.message.contains("missing")));
        // The new ID is reported with the one it replaced, so that the history shows both.
        assert!(anomalies.iter().any(|a| a.ids == ["B", "A"] && a.message.contains("never made")));
    }

    #[test]
    fn flags_a_changed_id_or_name() {
        let mut model = model_with_one_file();
        model.acknowledged("A", State::Live(file("F", "renamed.bin", b"one")));
        // The rename was acknowledged but the old name is what is served.
        assert!(model.observe("A", &seen_live("F", "a.bin", b"one")).is_err());
        assert!(!model.check_listing("F", &[entry("A", "a.bin")]).is_empty());
        // An ID that points to another item: right name, other bytes.
        assert!(model.observe("A", &seen_live("F", "renamed.bin", b"two")).is_err());
    }

    #[test]
    fn flags_a_duplicate_listing() {
        let model = model_with_one_file();
        let twice = model.check_listing("F", &[entry("A", "a.bin"), entry("A", "a.bin")]);
        assert!(twice.iter().any(|a| a.message.contains("listed 2 times")), "{twice:?}");
        // One name, two items.
        let shared_name = check_listing_shape("F", &[entry("A", "a.bin"), entry("B", "a.bin")]);
        assert!(shared_name.iter().any(|a| a.message.contains("holds 2 items")), "{shared_name:?}");
        // One ID in two folders (an interrupted move left both).
        let tree =
            BTreeMap::from([("F".to_owned(), vec![entry("A", "a.bin")]), ("G".to_owned(), vec![entry("A", "a.bin")])]);
        assert!(check_tree(&tree).iter().any(|a| a.message.contains("several folders")));
        // Listed in its folder and in another one looked into.
        let mut model = model_with_one_file();
        let mut seen = seen_live("F", "a.bin", b"one");
        seen.listed.insert("G".into(), vec!["a.bin".into()]);
        assert!(model.observe("A", &seen).is_err());
    }

    #[test]
    fn flags_wrong_bytes() {
        let mut model = model_with_one_file();
        assert!(model.observe("A", &seen_live("F", "a.bin", b"oNe")).is_err());
        // A download that fails is not the content either.
        let mut seen = seen_live("F", "a.bin", b"one");
        seen.content = None;
        assert!(model.observe("A", &seen).is_err());
    }

    #[test]
    fn an_uncertain_operation_is_either_undone_or_complete() {
        let mut model = model_with_one_file();
        model.uncertain("A", State::Live(file("F", "b.bin", b"one")));
        assert_eq!(model.uncertain_ids(), ["A"]);
        // Complete: settles on the new name.
        assert_eq!(model.observe("A", &seen_live("F", "b.bin", b"one")), Ok(()));
        assert_eq!(model.settled("A"), Some(&State::Live(file("F", "b.bin", b"one"))));
        // Undone: settles on the old one.
        model.uncertain("A", State::Live(file("F", "c.bin", b"one")));
        assert_eq!(model.observe("A", &seen_live("F", "b.bin", b"one")), Ok(()));
        assert!(model.uncertain_ids().is_empty());
        // Half done: listed under both names, or under the new name with the old metadata.
        model.uncertain("A", State::Live(file("F", "d.bin", b"one")));
        let mut half = seen_live("F", "b.bin", b"one");
        half.listed.insert("F".into(), vec!["b.bin".into(), "d.bin".into()]);
        assert!(model.observe("A", &half).is_err());
        // A delete that may or may not have happened: 404 and unlisted is the deleted state.
        let mut model = model_with_one_file();
        model.uncertain("A", State::Deleted { was: file("F", "a.bin", b"one") });
        let gone = Seen { metadata: None, content: None, listed: BTreeMap::from([("F".to_owned(), vec![])]) };
        assert_eq!(model.observe("A", &gone), Ok(()));
        assert!(matches!(model.settled("A"), Some(State::Deleted { .. })));
    }

    #[test]
    fn a_moved_item_may_take_a_free_name() {
        assert!(is_free_variant("report.pdf", "report (2).pdf"));
        assert!(is_free_variant("README", "README (1)"));
        assert!(!is_free_variant("report.pdf", "other.pdf"));
        assert!(!is_free_variant("report.pdf", "report (x).pdf"));
        let mut model = model_with_one_file();
        let mut moved = file("G", "a.bin", b"one");
        moved.name_may_vary = true;
        model.acknowledged("A", State::Live(moved));
        let mut seen = seen_live("G", "a (1).bin", b"one");
        seen.listed.insert("F".into(), vec![]);
        assert_eq!(model.observe("A", &seen), Ok(()));
        assert_eq!(model.settled("A").and_then(State::live).map(|p| p.name.as_str()), Some("a (1).bin"));
    }
}
