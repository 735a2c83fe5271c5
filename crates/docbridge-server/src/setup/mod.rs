//! Registering and administering integrations (C2, C22), shared by the CLI, the admin JSON API
//! and the admin page; one module per job:
//!
//! - `first_start`: registering an integration and issuing its secret, and the `default`
//!   integration of a first start;
//! - `admin`: the administration service ([`Admin`]), which audits every change;
//! - `views`: what the administration shows, secrets reduced to hints;
//! - `actions`: custom-action specs and role names from administrator input.

mod actions;
mod admin;
mod first_start;
mod views;

pub use actions::{
    ParsedActions, parse_action_json, parse_action_spec, parse_actions_json, parse_default_role, parse_role,
};
pub use admin::{Admin, RevokeKeys};
pub use first_start::{
    AddIntegration, DefaultLibrary, IntegrationCredentials, add_integration, add_integration_of_kind, archive_action,
    credentials, ensure_default_integration, ensure_default_library, slug_from_name,
};
pub use views::{ActionView, GrantView, IntegrationView, KeyView, RotatedSecret, UserView};
