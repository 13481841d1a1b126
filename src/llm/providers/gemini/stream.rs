//! Gemini streams (`streamGenerateContent?alt=sse`), provider side: each SSE `data:` is a
//! whole `GenerateContentResponse` holding the next piece of each candidate, so every chunk
//! maps to ir events on its own. Gemini sends a function call whole, in one part: it becomes
//! a `ToolCallStart` and one `ToolCallArguments` with all the arguments. There is no end
//! marker: the stream is complete once every candidate seen has its `finishReason`.
//!
//! A signature on a non-thought part is sent before that part's event, mirroring how
//! `response.rs` places it before the part in a whole response.

use crate::llm::ir::{ApiError, ErrorKind, FinishReason, StreamEvent};
use crate::llm::sse;

use super::response::{
    call_arguments, call_id, fallback_id, finish_reason, GenerateContentResponse,
};

#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    candidates: Vec<CandidateState>,
}

#[derive(Debug)]
struct CandidateState {
    index: u32,
    /// Calls started so far, which numbers the next one.
    calls: u32,
    finished: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn decode(
        &mut self,
        event: &sse::Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        if event.data.trim().is_empty() {
            return Ok(());
        }
        let chunk: GenerateContentResponse = serde_json::from_str(&event.data).map_err(|e| {
            ApiError::new(
                ErrorKind::BadResponse,
                format!("unreadable Gemini stream chunk: {e}"),
            )
        })?;
        if let Some(err) = &chunk.error {
            return Err(err.to_ir(None));
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk
                    .response_id
                    .clone()
                    .unwrap_or_else(|| fallback_id(event.data.as_bytes())),
                model: chunk.model_version.clone().unwrap_or_default(),
                created: crate::base::clock::now_unix() as u64,
            });
        }
        for (pos, cand) in chunk.candidates.iter().enumerate() {
            let index = cand.index.unwrap_or(pos as u32);
            let state = self.candidate(index);
            for part in cand.content.iter().flat_map(|c| &c.parts) {
                let text = part.text.as_deref().filter(|t| !t.is_empty());
                if part.thought {
                    if let Some(text) = text {
                        out.push(StreamEvent::Thinking {
                            index,
                            text: text.to_owned(),
                        });
                    }
                }
                if let Some(signature) = &part.thought_signature {
                    out.push(StreamEvent::ThinkingSignature {
                        index,
                        signature: signature.clone(),
                    });
                }
                if let Some(call) = &part.function_call {
                    let n = state.calls;
                    state.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        call: n,
                        id: call_id(call.id.as_deref(), index, n),
                        name: call.name.clone(),
                    });
                    out.push(StreamEvent::ToolCallArguments {
                        index,
                        call: n,
                        fragment: call_arguments(call.args.as_ref()),
                    });
                } else if let (false, Some(text)) = (part.thought, text) {
                    out.push(StreamEvent::Text {
                        index,
                        text: text.to_owned(),
                    });
                }
            }
            if let (Some(reason), false) = (&cand.finish_reason, state.finished) {
                state.finished = true;
                out.push(StreamEvent::Finish {
                    index,
                    reason: finish_reason(reason, state.calls > 0),
                });
            }
        }
        // A refused prompt comes as a chunk with no candidates and a block reason.
        let blocked = chunk
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        if chunk.candidates.is_empty() && blocked {
            let state = self.candidate(0);
            if !state.finished {
                state.finished = true;
                out.push(StreamEvent::Finish {
                    index: 0,
                    reason: FinishReason::ContentFilter,
                });
            }
        }
        // Gemini repeats usage, cumulatively, and early chunks may carry only zeros.
        if let Some(usage) = chunk.usage_metadata.as_ref().map(|u| u.to_ir()) {
            if usage.total() != 0 || usage.cached_tokens != 0 {
                out.push(StreamEvent::Usage(usage));
            }
        }
        Ok(())
    }

    pub fn is_done(&self) -> bool {
        !self.candidates.is_empty() && self.candidates.iter().all(|c| c.finished)
    }

    fn candidate(&mut self, index: u32) -> &mut CandidateState {
        let pos = match self.candidates.iter().position(|c| c.index == index) {
            Some(pos) => pos,
            None => {
                self.candidates.push(CandidateState {
                    index,
                    calls: 0,
                    finished: false,
                });
                self.candidates.len() - 1
            }
        };
        &mut self.candidates[pos]
    }
}
