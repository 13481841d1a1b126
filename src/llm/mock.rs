//! The in-process `mock` provider: deterministic answers derived from the prompt, with no
//! network, for the default configuration, the tests and the benchmarks.
//!
//! The reply is `You said: <the last user text>`. With tools and `tool_choice` `required` (or
//! one named tool), or `auto` when the prompt names a tool, it calls that tool with
//! `{"prompt": <the last user text>}`; after a tool result it reports what the tool returned.
//! Token counts are estimated as one token per four characters, at least one.

use crate::config::MockSpec;
use crate::llm::ir::*;
use std::collections::VecDeque;
use std::time::Duration;

/// Characters of the prompt quoted back.
const ECHO_CHARS: usize = 512;

fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

/// The error a mock configured with `fail_status` answers.
pub fn failure(spec: &MockSpec) -> Option<ApiError> {
    spec.fail_status.map(|s| {
        ApiError::new(
            ErrorKind::from_status(s),
            format!("mock provider configured to fail with {s}"),
        )
    })
}

fn prompt_chars(req: &ChatRequest) -> usize {
    req.messages
        .iter()
        .flat_map(|m| &m.parts)
        .map(|p| match p {
            Part::Text(t) => t.chars().count(),
            Part::ToolResult(r) => r.content.len() * 16,
            Part::ToolCall(c) => c.arguments.len(),
            _ => 16,
        })
        .sum()
}

fn last_user_text(req: &ChatRequest) -> String {
    let text = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(Message::joined_text)
        .unwrap_or_default();
    text.chars().take(ECHO_CHARS).collect()
}

/// What the mock answers: text, or one tool call.
fn reply(req: &ChatRequest) -> Part {
    let prompt = last_user_text(req);
    if let Some(last) = req.messages.last().filter(|m| m.role == Role::Tool) {
        let results: Vec<String> = last
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::ToolResult(r) => {
                    Some(Message::new(Role::Tool, r.content.clone()).joined_text())
                }
                _ => None,
            })
            .collect();
        return Part::Text(format!("The tool returned: {}", results.join("; ")));
    }
    let tool = match &req.tool_choice {
        Some(ToolChoice::None) => None,
        Some(ToolChoice::Tool(name)) => req.tools.iter().find(|t| &t.name == name),
        Some(ToolChoice::Required) => req.tools.first(),
        Some(ToolChoice::Auto) | None => req.tools.iter().find(|t| prompt.contains(&t.name)),
    };
    match tool {
        Some(t) => Part::ToolCall(ToolCall {
            id: format!("call_mock_{}", t.name),
            name: t.name.clone(),
            arguments: serde_json::json!({ "prompt": prompt }).to_string(),
        }),
        None => Part::Text(format!("You said: {prompt}")),
    }
}

fn usage(req: &ChatRequest, part: &Part) -> Usage {
    let out = match part {
        Part::Text(t) => t.chars().count(),
        Part::ToolCall(c) => c.arguments.len(),
        _ => 1,
    };
    Usage {
        prompt_tokens: tokens(prompt_chars(req)),
        completion_tokens: tokens(out),
        ..Usage::default()
    }
}

fn finish_reason(part: &Part) -> FinishReason {
    match part {
        Part::ToolCall(_) => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

pub fn chat(req: &ChatRequest, model: &str) -> ChatResponse {
    let part = reply(req);
    // Bounded here too, not only by the request check: the mock must never loop on a number
    // a client chose.
    let n = req
        .n
        .unwrap_or(1)
        .clamp(1, crate::llm::validate::MAX_CHOICES);
    ChatResponse {
        id: format!(
            "chatcmpl-mock-{:x}",
            crate::base::hash::mix(prompt_chars(req) as u64)
        ),
        model: model.to_owned(),
        created: crate::base::clock::now_unix() as u64,
        usage: Usage {
            completion_tokens: usage(req, &part).completion_tokens * n as u64,
            ..usage(req, &part)
        },
        choices: (0..n)
            .map(|index| Choice {
                index,
                message: Message::new(Role::Assistant, vec![part.clone()]),
                finish_reason: Some(finish_reason(&part)),
            })
            .collect(),
    }
}

/// A streamed mock answer: its events, handed out one at a time after `chunk_delay`.
pub struct MockStream {
    events: VecDeque<StreamEvent>,
    delay: Duration,
}

impl MockStream {
    pub fn new(req: &ChatRequest, model: &str, spec: &MockSpec) -> MockStream {
        let full = chat(req, model);
        let mut events = VecDeque::new();
        events.push_back(StreamEvent::Start {
            id: full.id.clone(),
            model: full.model.clone(),
            created: full.created,
        });
        for choice in &full.choices {
            let index = choice.index;
            for part in &choice.message.parts {
                match part {
                    Part::Text(t) => {
                        let chars: Vec<char> = t.chars().collect();
                        for piece in chars.chunks(spec.chunk_chars.max(1)) {
                            events.push_back(StreamEvent::Text {
                                index,
                                text: piece.iter().collect(),
                            });
                        }
                    }
                    Part::ToolCall(c) => {
                        events.push_back(StreamEvent::ToolCallStart {
                            index,
                            call: 0,
                            id: c.id.clone(),
                            name: c.name.clone(),
                        });
                        events.push_back(StreamEvent::ToolCallArguments {
                            index,
                            call: 0,
                            fragment: c.arguments.clone(),
                        });
                    }
                    _ => {}
                }
            }
            if let Some(reason) = &choice.finish_reason {
                events.push_back(StreamEvent::Finish {
                    index,
                    reason: reason.clone(),
                });
            }
        }
        events.push_back(StreamEvent::Usage(full.usage));
        MockStream {
            events,
            delay: spec.chunk_delay,
        }
    }

    /// The next event; `None` at the end.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        let ev = self.events.pop_front()?;
        if !self.delay.is_zero() && matches!(ev, StreamEvent::Text { .. }) {
            tokio::time::sleep(self.delay).await;
        }
        Some(ev)
    }
}

/// Deterministic unit vectors: the same text always gets the same embedding.
pub fn embeddings(req: &EmbeddingRequest, model: &str) -> EmbeddingResponse {
    let dims = req.dimensions.unwrap_or(8).clamp(1, 4096) as usize;
    let data = req
        .input
        .iter()
        .map(|text| {
            let mut seed = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            });
            let mut v: Vec<f32> = (0..dims)
                .map(|_| {
                    seed = crate::base::hash::mix(seed);
                    (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                })
                .collect();
            let norm = v
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::EPSILON);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect();
    let chars: usize = req.input.iter().map(|t| t.chars().count()).sum();
    EmbeddingResponse {
        model: model.to_owned(),
        data,
        usage: Usage {
            prompt_tokens: tokens(chars),
            ..Usage::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            model: "demo".into(),
            messages: vec![Message::text(Role::User, text)],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn replies_echo_the_prompt_with_usage() {
        let r = chat(&ask("hello there"), "mock-1");
        assert_eq!(r.choices[0].message.joined_text(), "You said: hello there");
        assert_eq!(r.usage.prompt_tokens, 3);
        assert!(r.usage.completion_tokens > 0);
    }

    #[test]
    fn choices_are_capped_whatever_n_says() {
        // The request check refuses such an `n`; the mock must not loop on it regardless.
        let mut req = ask("hi");
        req.n = Some(u32::MAX);
        assert_eq!(
            chat(&req, "mock-1").choices.len(),
            crate::llm::validate::MAX_CHOICES as usize
        );
    }

    #[test]
    fn required_tool_choice_calls_the_tool() {
        let mut req = ask("weather in Paris");
        req.tools.push(Tool {
            name: "get_weather".into(),
            description: None,
            parameters: None,
        });
        req.tool_choice = Some(ToolChoice::Required);
        let r = chat(&req, "mock-1");
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert!(
            matches!(&r.choices[0].message.parts[0], Part::ToolCall(c) if c.name == "get_weather")
        );
    }

    #[test]
    fn streams_split_the_reply_into_chunks() {
        let spec = MockSpec {
            chunk_chars: 4,
            ..MockSpec::default()
        };
        let s = MockStream::new(&ask("abcdefgh"), "mock-1", &spec);
        let texts: String = s
            .events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, "You said: abcdefgh");
        assert!(matches!(s.events.back(), Some(StreamEvent::Usage(u)) if u.completion_tokens > 0));
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let req = EmbeddingRequest {
            model: "e".into(),
            input: vec!["a".into(), "a".into(), "b".into()],
            dimensions: Some(16),
            ..EmbeddingRequest::default()
        };
        let r = embeddings(&req, "mock-embed");
        assert_eq!(r.data[0], r.data[1]);
        assert_ne!(r.data[0], r.data[2]);
        let norm: f32 = r.data[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
