//! What a waiting agent's tool is about to do: the `tool_input` object of its hook payload,
//! bounded, carried as JSON text (postcard cannot carry a free-form value) and shown to people
//! as one safe line.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest tool input kept, as JSON text. Past it, long strings are cut first.
pub const MAX_TOOL_INPUT: usize = 16 * 1024;
/// How long each string of a tool input that was too large may stay.
const CUT_STRING: usize = 1024;

/// A tool's input as compact JSON text (always an object, an array or a scalar that parses).
/// In JSON output (`sbx ls --json`, the web API) it is the value itself; on the socket, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolInput(String);

impl ToolInput {
    /// Keep `value`, cut to fit in `MAX_TOOL_INPUT` (long strings shortened, marked with …;
    /// if it still does not fit, a note that it was too large).
    pub fn bounded(value: &serde_json::Value) -> ToolInput {
        let text = value.to_string();
        if text.len() <= MAX_TOOL_INPUT {
            return ToolInput(text);
        }
        let cut = cut_strings(value);
        let text = cut.to_string();
        if text.len() <= MAX_TOOL_INPUT {
            return ToolInput(text);
        }
        ToolInput(serde_json::json!({ "truncated": true, "bytes": value.to_string().len() }).to_string())
    }

    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// One line for a title bar or a notification: the command, the file or the pattern the
    /// tool names, else the compact JSON; control characters replaced, at most `max` chars.
    pub fn summary(&self, max: usize) -> String {
        let value = self.value();
        let named = ["command", "file_path", "path", "pattern", "url", "query", "description"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|v| v.as_str()).map(str::to_string));
        let text = named.unwrap_or_else(|| self.0.clone());
        let mut out: String =
            text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max.saturating_add(1)).collect();
        if out.chars().count() > max {
            out = out.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
        }
        out
    }
}

fn cut_strings(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if s.len() > CUT_STRING => {
            let mut end = CUT_STRING;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Value::String(format!("{}…", &s[..end]))
        }
        Value::Array(items) => Value::Array(items.iter().map(cut_strings).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), cut_strings(v))).collect()),
        other => other.clone(),
    }
}

impl Serialize for ToolInput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.value().serialize(s)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ToolInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ToolInput, D::Error> {
        if d.is_human_readable() {
            Ok(ToolInput::bounded(&serde_json::Value::deserialize(d)?))
        } else {
            let text = String::deserialize(d)?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
            Ok(ToolInput::bounded(&value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_large_input_is_cut_to_fit_and_stays_json() {
        let huge = json!({ "command": "x".repeat(100_000), "description": "list" });
        let kept = ToolInput::bounded(&huge);
        assert!(kept.0.len() <= MAX_TOOL_INPUT);
        assert!(kept.value()["command"].as_str().unwrap().ends_with('…'));
        assert_eq!(kept.value()["description"], "list");
        let wide = json!((0..5000).map(|i| format!("item {i}")).collect::<Vec<_>>());
        assert_eq!(ToolInput::bounded(&wide).value()["truncated"], true);
    }

    #[test]
    fn the_summary_names_the_command_and_holds_no_control_characters() {
        let input = ToolInput::bounded(&json!({ "command": "rm -rf build\n\u{1b}[2Jecho hi", "description": "clean" }));
        let line = input.summary(200);
        assert_eq!(line, "rm -rf build  [2Jecho hi");
        assert_eq!(input.summary(6), "rm -r…");
        let other = ToolInput::bounded(&json!({ "a": 1 }));
        assert_eq!(other.summary(80), "{\"a\":1}");
    }

    #[test]
    fn it_is_a_value_in_json_and_text_on_the_socket() {
        let input = ToolInput::bounded(&json!({ "command": "ls" }));
        assert_eq!(serde_json::to_value(&input).unwrap(), json!({ "command": "ls" }));
        let wire = postcard::to_allocvec(&input).unwrap();
        assert_eq!(postcard::from_bytes::<ToolInput>(&wire).unwrap(), input);
        let bad = postcard::to_allocvec(&"{not json").unwrap();
        assert!(postcard::from_bytes::<ToolInput>(&bad).is_err());
    }
}
