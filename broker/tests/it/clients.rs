//! placeholder
use crate::harness::*;
