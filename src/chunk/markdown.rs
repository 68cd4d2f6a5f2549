//! placeholder
use super::{Document, Sink};
pub(crate) fn chunk(_doc: &Document, _size: usize, _overlap: usize, _sink: &mut Sink) {}
