//! Alerts on PostgreSQL: rules, channels, the outbox and the delivery history.

use crate::notify::model::{Channel, ChannelId, Notification, NotificationId, Rule, RuleId};
use crate::notify::outbox::{AttemptRecord, Next};
use crate::store::{AlertSettings, Delivery, DeliveryFilter, NewChannel, StoreError};

use super::PgStore;

fn not_yet(method: &str) -> StoreError {
    StoreError::Unavailable(format!("{method} is not implemented on PostgreSQL yet"))
}

static SETTINGS: std::sync::LazyLock<AlertSettings> = std::sync::LazyLock::new(AlertSettings::default);

impl PgStore {
    pub fn alert_settings(&self) -> &AlertSettings {
        &SETTINGS
    }

    pub async fn alert_channels(&self, _organization_id: i64) -> Result<Vec<Channel>, StoreError> {
        Err(not_yet("alert_channels"))
    }

    pub async fn alert_channel(&self, _id: ChannelId) -> Result<Channel, StoreError> {
        Err(not_yet("alert_channel"))
    }

    pub async fn create_alert_channel(&self, _new: NewChannel) -> Result<Channel, StoreError> {
        Err(not_yet("create_alert_channel"))
    }

    pub async fn update_alert_channel(&self, _id: ChannelId, _new: NewChannel) -> Result<Channel, StoreError> {
        Err(not_yet("update_alert_channel"))
    }

    pub async fn delete_alert_channel(&self, _id: ChannelId) -> Result<(), StoreError> {
        Err(not_yet("delete_alert_channel"))
    }

    pub async fn alert_rules(&self, _project_id: i64) -> Result<Vec<Rule>, StoreError> {
        Err(not_yet("alert_rules"))
    }

    pub async fn alert_rule(&self, _id: RuleId) -> Result<Rule, StoreError> {
        Err(not_yet("alert_rule"))
    }

    pub async fn create_alert_rule(&self, _rule: Rule) -> Result<Rule, StoreError> {
        Err(not_yet("create_alert_rule"))
    }

    pub async fn update_alert_rule(&self, _rule: Rule) -> Result<Rule, StoreError> {
        Err(not_yet("update_alert_rule"))
    }

    pub async fn delete_alert_rule(&self, _id: RuleId) -> Result<(), StoreError> {
        Err(not_yet("delete_alert_rule"))
    }

    pub async fn deliveries(&self, _filter: DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        Err(not_yet("deliveries"))
    }

    pub async fn outbox_claim(
        &self,
        _now_ms: i64,
        _limit: usize,
        _lease_until_ms: i64,
        _skip: Vec<ChannelId>,
    ) -> Result<Vec<Notification>, StoreError> {
        Err(not_yet("outbox_claim"))
    }

    pub async fn outbox_fold(&self, _members: Vec<NotificationId>, _digest: Notification) -> Result<(), StoreError> {
        Err(not_yet("outbox_fold"))
    }

    pub async fn outbox_record(
        &self,
        _id: NotificationId,
        _attempt: Option<AttemptRecord>,
        _next: Next,
    ) -> Result<(), StoreError> {
        Err(not_yet("outbox_record"))
    }

    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        Err(not_yet("outbox_depth"))
    }
}
