#!/usr/bin/env bash
# The library crates as a reuser gets them (issue #18): each packages as it would be published,
# rustdoc is warning-free (every public item documented: `#![warn(missing_docs)]`), and
# cargo-deny checks the licences, duplicate versions and sources of every dependency against
# deny.toml. Installs cargo-deny with `cargo install` when it is missing (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."

LIBRARIES=(docbridge-protocol docbridge-storage docbridge-registry docbridge-auth docbridge-documents docbridge-client)
DENY_VERSION=0.20.2

# Packaged together: cargo resolves each crate's path dependencies to the others' packages (a
# local overlay of the registry), so nothing has to be on crates.io first. No verification
# build: it would compile every dependency again in target/package (the workspace's builds and
# the README doc tests already compile these sources); the packaging itself checks the
# manifests, the READMEs, the licence files and that the crates' files are all there.
package_args=()
for crate in "${LIBRARIES[@]}"; do package_args+=(-p "$crate"); done
rm -rf target/package
cargo package --offline --no-verify --allow-dirty "${package_args[@]}"
for crate in "${LIBRARIES[@]}"; do
    archive="target/package/$crate-$(cargo pkgid --offline -p "$crate" | sed 's/.*[#@]//').crate"
    # Listed once into a variable: `tar | grep -q` fails under pipefail when grep stops reading
    # early and tar dies of SIGPIPE, which happens once the archive's listing is long enough.
    listing="$(tar -tzf "$archive")"
    for file in README.md LICENSE-MIT LICENSE-APACHE; do
        if ! grep -q "/$file\$" <<<"$listing"; then
            echo "$archive has no $file" >&2
            exit 1
        fi
    done
done
echo "package: ${#LIBRARIES[@]} passed, 0 failed"

# Every public item documented, every intra-doc link resolved.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

if ! command -v cargo-deny >/dev/null || [ "$(cargo-deny --version | awk '{print $2}')" != "$DENY_VERSION" ]; then
    cargo install cargo-deny --locked --version "$DENY_VERSION"
fi
# Not `advisories`: its database is fetched from the internet, which CI cannot reach (deny.toml).
cargo deny --all-features check licenses bans sources
echo "deny: 3 passed, 0 failed"
