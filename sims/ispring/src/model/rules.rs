//! Automatic-enrollment rules: attached to a department or a group, applied only when a user joins
//! that target, and deleted together with their target.

use super::{Error, Result, Rule, State, TargetType, new_id, now_rfc3339};

impl State {
    pub fn create_rule(&mut self, target_type: TargetType, target_id: &str, content_id: &str) -> Result<String> {
        match target_type {
            TargetType::Department => self.department(target_id).map(|_| ())?,
            TargetType::Group => self.group(target_id).map(|_| ())?,
        }
        self.content(content_id)?;
        let seq = self.next_seq();
        let id = new_id();
        let rule = Rule {
            id: id.clone(),
            target_type,
            target_id: target_id.to_string(),
            content_id: content_id.to_string(),
            created_at: seq,
            created_time: now_rfc3339(),
        };
        self.rules.insert(id.clone(), rule);
        self.rules_by_target.entry((target_type, target_id.to_string())).or_default().push(id.clone());
        Ok(id)
    }

    pub fn delete_rule(&mut self, id: &str) -> Result<()> {
        let rule = self.rules.remove(id).ok_or_else(|| Error::not_found("rule_not_found", "rule", id))?;
        if let Some(ids) = self.rules_by_target.get_mut(&(rule.target_type, rule.target_id)) {
            ids.retain(|r| r != id);
        }
        Ok(())
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Applies every rule on the target to a user that has just joined it.
    pub(super) fn fire_rules(&mut self, target_type: TargetType, target_id: &str, user_id: &str) {
        let Some(rule_ids) = self.rules_by_target.get(&(target_type, target_id.to_string())) else { return };
        let to_apply: Vec<(String, String)> = rule_ids
            .iter()
            .filter_map(|rule_id| self.rules.get(rule_id))
            .map(|rule| (rule.id.clone(), rule.content_id.clone()))
            .collect();
        for (rule_id, content_id) in to_apply {
            self.enroll_one(user_id, &content_id, &format!("rule:{rule_id}"));
        }
    }

    pub(super) fn delete_rules_on(&mut self, target_type: TargetType, target_id: &str) {
        if let Some(rule_ids) = self.rules_by_target.remove(&(target_type, target_id.to_string())) {
            for rule_id in rule_ids {
                self.rules.remove(&rule_id);
            }
        }
    }
}
