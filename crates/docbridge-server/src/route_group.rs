//! What every operation of a group of routes shares in the OpenAPI document, said once.
//!
//! Each handler's `#[utoipa::path]` names only what is its own: method, path, parameters, body
//! and answers where they differ from the group's, and its doc comment's first paragraph is the
//! summary. [`RouteGroup::split`] adds the group's tag, security scheme and operation-ID prefix to
//! every operation, then lets the group fill in what its routes have in common (the admin API's
//! failures, the admin page's CSRF form), so that twenty handlers cannot disagree about it.

use axum::Router;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::OpenApiRouter;

/// The tag, security and operation IDs of a group of routes.
pub(crate) struct RouteGroup {
    /// The OpenAPI tag of every operation.
    pub tag: &'static str,
    /// Put before the handler's name, camel-cased, to make the operation ID (`api` and
    /// `list_users` give `apiListUsers`). An ID given in the attribute as the prefix then a
    /// capital (`adminUsers`) is kept, for handlers whose name would say too little or too much.
    pub id_prefix: &'static str,
    /// The security scheme every operation needs; `None` for public routes.
    pub security: Option<&'static str>,
}

impl RouteGroup {
    /// Splits `router` into its routes and their description, with the group's tag, security
    /// and operation ID on every operation; `each` then adds what else the group shares.
    pub fn split<S: Clone + Send + Sync + 'static>(
        &self,
        router: OpenApiRouter<S>,
        mut each: impl FnMut(HttpMethod, &mut Operation),
    ) -> (Router<S>, OpenApi) {
        let (router, mut api) = router.split_for_parts();
        for item in api.paths.paths.values_mut() {
            for (method, operation) in operations(item) {
                operation.tags = Some(vec![self.tag.to_owned()]);
                if let Some(scheme) = self.security {
                    operation.security = Some(vec![SecurityRequirement::new::<_, _, &str>(scheme, [])]);
                }
                let id = operation.operation_id.take().unwrap_or_default();
                operation.operation_id = Some(operation_id(self.id_prefix, id));
                each(method, operation);
            }
        }
        (router, api)
    }
}

/// The operation ID for `id`, the handler's name or an ID written in the attribute. A handler's
/// name is snake case; a written ID is camel case after the prefix, which no name can look like.
fn operation_id(prefix: &str, id: String) -> String {
    let written = id.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(char::is_uppercase));
    if written { id } else { format!("{prefix}{}", camel_case(&id, !prefix.is_empty())) }
}

/// The path item's operations with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, &mut item.get),
        (HttpMethod::Put, &mut item.put),
        (HttpMethod::Post, &mut item.post),
        (HttpMethod::Delete, &mut item.delete),
        (HttpMethod::Options, &mut item.options),
        (HttpMethod::Head, &mut item.head),
        (HttpMethod::Patch, &mut item.patch),
        (HttpMethod::Trace, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|operation| (method, operation)))
}

/// `list_users` as `ListUsers` (`capital_first`) or `listUsers`.
fn camel_case(snake: &str, capital_first: bool) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = capital_first;
    for c in snake.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_the_handlers_names_camel_cased_after_the_prefix() {
        assert_eq!(camel_case("list_users", true), "ListUsers");
        assert_eq!(camel_case("doctor_nonce", false), "doctorNonce");
        assert_eq!(camel_case("healthz", false), "healthz");
    }

    #[test]
    fn an_id_written_in_the_attribute_is_kept_and_a_name_is_never_taken_for_one() {
        assert_eq!(operation_id("admin", "adminUsers".into()), "adminUsers");
        assert_eq!(operation_id("admin", "users_page".into()), "adminUsersPage");
        // A name that happens to start with the prefix is still a name.
        assert_eq!(operation_id("admin", "administer".into()), "adminAdminister");
        assert_eq!(operation_id("", "doctor_nonce".into()), "doctorNonce");
    }
}
