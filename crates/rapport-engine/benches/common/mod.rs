pub mod mix;
