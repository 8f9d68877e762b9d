//! The reference destination's presets, as data: name, action and exact trigger.

use crate::actions::Action;

/// One preset: its name, action, trigger and the fields whose mapping differs from the
/// action's defaults (none for the reference's presets).
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub action: Action,
    pub trigger: &'static str,
    /// A JSON object of field mappings that replace the defaults; empty for none.
    pub mapping: &'static str,
}

impl Preset {
    /// The preset's mapping overrides, parsed.
    pub fn overrides(&self) -> Vec<(String, serde_json::Value)> {
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(self.mapping) {
            Ok(m) => m.into_iter().collect(),
            Err(_) => Vec::new(),
        }
    }
}

const fn preset(name: &'static str, action: Action, trigger: &'static str) -> Preset {
    Preset {
        name,
        action,
        trigger,
        mapping: "",
    }
}

const fn classic(
    name: &'static str,
    action: Action,
    trigger: &'static str,
    mapping: &'static str,
) -> Preset {
    Preset {
        name,
        action,
        trigger,
        mapping,
    }
}

/// The 15 automatic presets of Customer.io (Actions), in the reference's order. The triggers
/// keyed on `event` deliberately do not test `type` (an identify carrying `event: "User
/// Deleted"` runs Delete Person too), exactly as the reference.
pub const ACTIONS_PRESETS: &[Preset] = &[
    preset(
        "Create or Update Person",
        Action::CreateUpdatePerson,
        r#"type = "identify""#,
    ),
    preset(
        "Create or Update Device",
        Action::CreateUpdateDevice,
        r#"event = "Application Installed" or event = "Application Opened" or event = "Device Created or Updated""#,
    ),
    preset(
        "Delete Device",
        Action::DeleteDevice,
        r#"event = "Application Uninstalled" or event = "Device Deleted""#,
    ),
    preset(
        "Delete Relationship",
        Action::DeleteRelationship,
        r#"event = "Relationship Deleted""#,
    ),
    preset(
        "Delete Person",
        Action::DeletePerson,
        r#"event = "User Deleted""#,
    ),
    preset(
        "Delete Object",
        Action::DeleteObject,
        r#"event = "Object Deleted""#,
    ),
    preset(
        "Track Event",
        Action::TrackEvent,
        r#"type = "track" and event != "Application Installed" and event != "Application Opened" and event != "Application Uninstalled" and event != "Device Created or Updated" and event != "Device Deleted" and event != "Relationship Deleted" and event != "User Deleted" and event != "User Suppressed" and event != "User Unsuppressed" and event != "Object Deleted" and event != "Report Delivery Event" and event != "Report Content Event""#,
    ),
    preset("Track Page View", Action::TrackPageView, r#"type = "page""#),
    preset(
        "Track Screen View",
        Action::TrackScreenView,
        r#"type = "screen""#,
    ),
    preset(
        "Create or Update Object",
        Action::CreateUpdateObject,
        r#"type = "group""#,
    ),
    preset("Merge People", Action::MergePeople, r#"type = "alias""#),
    preset(
        "Suppress Person",
        Action::SuppressPerson,
        r#"event = "User Suppressed""#,
    ),
    preset(
        "Unsuppress Person",
        Action::UnsuppressPerson,
        r#"event = "User Unsuppressed""#,
    ),
    preset(
        "Report Delivery Event",
        Action::ReportDeliveryEvent,
        r#"event = "Report Delivery Event""#,
    ),
    preset(
        "Report Content Event",
        Action::ReportContentEvent,
        r#"event = "Report Content Event""#,
    ),
];

/// `presets = "classic"`: what Segment's classic Customer.io destination did, for users
/// migrating from it. Classic needs a userId (anonymous calls are not sent), names screen
/// events `Viewed <name> Screen`, names page views by the page name (falling back to the URL),
/// reads `created` as `created_at`, and turns a group call into person attributes `Group id`
/// and `Group name`. Devices follow the Actions presets, limited to track calls.
pub const CLASSIC_PRESETS: &[Preset] = &[
    classic(
        "Classic Identify",
        Action::CreateUpdatePerson,
        r#"type = "identify" and userId != null"#,
        r#"{"id": {"@path": "$.userId"},
            "created_at": {"@if": {"exists": {"@path": "$.traits.created_at"},
                                   "then": {"@path": "$.traits.created_at"},
                                   "else": {"@path": "$.traits.created"}}}}"#,
    ),
    classic(
        "Classic Track",
        Action::TrackEvent,
        r#"type = "track" and userId != null and event != "Application Installed" and event != "Application Opened" and event != "Application Uninstalled""#,
        "",
    ),
    classic(
        "Classic Page",
        Action::TrackPageView,
        r#"type = "page" and userId != null"#,
        r#"{"url": {"@if": {"exists": {"@path": "$.name"},
                            "then": {"@path": "$.name"},
                            "else": {"@path": "$.properties.url"}}}}"#,
    ),
    classic(
        "Classic Screen",
        Action::TrackEvent,
        r#"type = "screen" and userId != null"#,
        r#"{"name": {"@if": {"exists": {"@path": "$.name"},
                             "then": {"@template": "Viewed {{name}} Screen"},
                             "else": "Viewed Undefined Screen"}}}"#,
    ),
    classic(
        "Classic Group",
        Action::CreateUpdatePerson,
        r#"type = "group" and userId != null"#,
        r#"{"id": {"@path": "$.userId"},
            "email": "",
            "created_at": "",
            "group_id": "",
            "custom_attributes": {"Group id": {"@path": "$.groupId"},
                                  "Group name": {"@path": "$.traits.name"}}}"#,
    ),
    classic(
        "Classic Device Created or Updated",
        Action::CreateUpdateDevice,
        r#"type = "track" and (event = "Application Installed" or event = "Application Opened")"#,
        "",
    ),
    classic(
        "Classic Device Deleted",
        Action::DeleteDevice,
        r#"type = "track" and event = "Application Uninstalled""#,
        "",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_mapping_parses_and_names_real_fields() {
        for p in ACTIONS_PRESETS.iter().chain(CLASSIC_PRESETS) {
            if !p.mapping.is_empty() {
                assert!(!p.overrides().is_empty(), "{} mapping is not JSON", p.name);
            }
            for (field, value) in p.overrides() {
                assert!(
                    p.action.field_index(&field).is_some(),
                    "{}: {field}",
                    p.name
                );
                crate::mapping::Mapping::parse(&value).expect("mapping parses");
            }
            crate::subscription::Trigger::parse(p.trigger).expect("trigger parses");
        }
    }
}
