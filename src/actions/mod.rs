//! The 15 Customer.io actions. Each action's module holds its field table (`FIELDS`) and the
//! code that turns a validated payload into an operation (`build`); the rules they share live
//! beside them: [`identifiers`], [`timestamp`], [`builder`] and [`payload`].

pub mod builder;
pub mod field;
pub mod identifiers;
pub mod payload;
pub mod timestamp;

pub mod create_update_device;
pub mod create_update_object;
pub mod create_update_person;
pub mod delete_device;
pub mod delete_object;
pub mod delete_person;
pub mod delete_relationship;
pub mod merge_people;
pub mod report_content_event;
pub mod report_delivery_event;
pub mod suppress_person;
pub mod track_event;
pub mod track_page_view;
pub mod track_screen_view;
pub mod unsuppress_person;

use serde_json::Value;

use crate::mapping::Mapping;
pub use field::{FieldKind, FieldSpec};
pub use payload::{Mode, Payload};

/// Every action of the destination. A closed set: matched exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CreateUpdatePerson,
    TrackEvent,
    TrackPageView,
    TrackScreenView,
    CreateUpdateDevice,
    DeleteDevice,
    CreateUpdateObject,
    DeleteObject,
    DeleteRelationship,
    DeletePerson,
    SuppressPerson,
    UnsuppressPerson,
    MergePeople,
    ReportDeliveryEvent,
    ReportContentEvent,
}

/// Where an operation is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A Track API v2 operation: `/api/v2/entity` alone or inside `/api/v2/batch`.
    V2,
    /// A delivery metric: `POST /api/v1/metrics`, one per request.
    V1Metrics,
}

impl Action {
    /// All actions, in the reference's preset order.
    pub const ALL: [Action; 15] = [
        Action::CreateUpdatePerson,
        Action::CreateUpdateDevice,
        Action::DeleteDevice,
        Action::DeleteRelationship,
        Action::DeletePerson,
        Action::DeleteObject,
        Action::TrackEvent,
        Action::TrackPageView,
        Action::TrackScreenView,
        Action::CreateUpdateObject,
        Action::MergePeople,
        Action::SuppressPerson,
        Action::UnsuppressPerson,
        Action::ReportDeliveryEvent,
        Action::ReportContentEvent,
    ];

    /// The action's key, as the reference names it (`trackEvent`).
    pub fn key(self) -> &'static str {
        match self {
            Action::CreateUpdatePerson => "createUpdatePerson",
            Action::TrackEvent => "trackEvent",
            Action::TrackPageView => "trackPageView",
            Action::TrackScreenView => "trackScreenView",
            Action::CreateUpdateDevice => "createUpdateDevice",
            Action::DeleteDevice => "deleteDevice",
            Action::CreateUpdateObject => "createUpdateObject",
            Action::DeleteObject => "deleteObject",
            Action::DeleteRelationship => "deleteRelationship",
            Action::DeletePerson => "deletePerson",
            Action::SuppressPerson => "suppressPerson",
            Action::UnsuppressPerson => "unsuppressPerson",
            Action::MergePeople => "mergePeople",
            Action::ReportDeliveryEvent => "reportDeliveryEvent",
            Action::ReportContentEvent => "reportContentEvent",
        }
    }

    /// Looks an action up by its key.
    pub fn from_key(key: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.key() == key)
    }

    /// The action's field table.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Action::CreateUpdatePerson => create_update_person::FIELDS,
            Action::TrackEvent => track_event::FIELDS,
            Action::TrackPageView => track_page_view::FIELDS,
            Action::TrackScreenView => track_screen_view::FIELDS,
            Action::CreateUpdateDevice => create_update_device::FIELDS,
            Action::DeleteDevice => delete_device::FIELDS,
            Action::CreateUpdateObject => create_update_object::FIELDS,
            Action::DeleteObject => delete_object::FIELDS,
            Action::DeleteRelationship => delete_relationship::FIELDS,
            Action::DeletePerson => delete_person::FIELDS,
            Action::SuppressPerson => suppress_person::FIELDS,
            Action::UnsuppressPerson => unsuppress_person::FIELDS,
            Action::MergePeople => merge_people::FIELDS,
            Action::ReportDeliveryEvent => report_delivery_event::FIELDS,
            Action::ReportContentEvent => report_content_event::FIELDS,
        }
    }

    /// Where this action's operations go.
    pub fn endpoint(self) -> Endpoint {
        match self {
            Action::ReportDeliveryEvent => Endpoint::V1Metrics,
            _ => Endpoint::V2,
        }
    }

    /// Builds the operation from a validated payload.
    pub fn build(self, p: Payload) -> Value {
        match self {
            Action::CreateUpdatePerson => create_update_person::build(p),
            Action::TrackEvent => track_event::build(p),
            Action::TrackPageView => track_page_view::build(p),
            Action::TrackScreenView => track_screen_view::build(p),
            Action::CreateUpdateDevice => create_update_device::build(p),
            Action::DeleteDevice => delete_device::build(p),
            Action::CreateUpdateObject => create_update_object::build(p),
            Action::DeleteObject => delete_object::build(p),
            Action::DeleteRelationship => delete_relationship::build(p),
            Action::DeletePerson => delete_person::build(p),
            Action::SuppressPerson => suppress_person::build(p),
            Action::UnsuppressPerson => unsuppress_person::build(p),
            Action::MergePeople => merge_people::build(p),
            Action::ReportDeliveryEvent => report_delivery_event::build(p),
            Action::ReportContentEvent => report_content_event::build(p),
        }
    }

    /// The index of a field in this action's table.
    pub fn field_index(self, key: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.key == key)
    }

    /// The action's default mapping: every field that has a default, in table order.
    pub fn default_mapping(self) -> Vec<(usize, Mapping)> {
        self.fields()
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.default.to_mapping().map(|m| (i, m)))
            .collect()
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// A built operation and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The operation body (a v2 operation or a v1 metric).
    pub body: Value,
    /// Where it goes.
    pub endpoint: Endpoint,
}

/// Maps one event through an action: resolves each mapped field, cleans, validates and builds.
/// `Err` carries the validation message (the event is refused for this subscription, status 400).
pub fn run(
    action: Action,
    mapping: &[(usize, Mapping)],
    event: &Value,
    mode: Mode,
) -> Result<Built, String> {
    let values: Vec<(usize, Value)> = mapping
        .iter()
        .filter_map(|(i, m)| m.resolve(event).map(|v| (*i, v)))
        .collect();
    let payload = payload::validate(action.fields(), values, mode)?;
    Ok(Built {
        body: action.build(payload),
        endpoint: action.endpoint(),
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Runs an action with its default mapping in batch mode (the presets' mode).
    pub fn run(action: &str, event: &Value) -> Result<Value, String> {
        run_mode(action, event, Mode::Batch)
    }

    /// Runs an action with its default mapping in the given mode.
    pub fn run_mode(action: &str, event: &Value, mode: Mode) -> Result<Value, String> {
        let action = Action::from_key(action).expect("known action");
        super::run(action, &action.default_mapping(), event, mode).map(|b| b.body)
    }
}
