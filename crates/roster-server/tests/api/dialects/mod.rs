//! The five vendor dialects, each against its seed document and SPEC §2.

mod crux;
mod fynn;
mod lexful;
mod softwareone;
mod yuno;
