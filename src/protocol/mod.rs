//! The function protocol as the rest of the crate uses it: conversion between
//! `google.protobuf.Struct` and JSON, and helpers that build responses,
//! results, conditions and requirements. Nothing here knows about runners.

pub mod request;
pub mod response;
pub mod structs;
