//! The function protocol as the rest of the crate uses it: conversion between
//! `google.protobuf.Struct` and JSON, and helpers that build responses,
//! results, conditions and requirements. Nothing here depends on the fleet domain.

pub mod codec;
pub mod request;
pub mod response;
pub mod structs;
pub mod wire;
