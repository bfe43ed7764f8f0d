use std::path::PathBuf;

/// Every failure neuropos reports: each names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid model configuration: {0}")]
    Config(String),

    #[error("{path}: {problem}")]
    Data { path: PathBuf, problem: String },

    #[error("checkpoint {path}: {problem}")]
    Checkpoint { path: PathBuf, problem: String },

    #[error("{reference}: {problem}")]
    Hub { reference: String, problem: String },

    /// A pruning level a checkpoint cannot give (below its own stored share, out of range).
    #[error("{0}")]
    Pruning(String),

    /// A run's settings, directory or lock (names the flag or file at fault).
    #[error("{0}")]
    Run(String),

    #[error("training diverged: {0}")]
    Diverged(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// `s` as a message quotes it: whole up to 200 characters, else its start and its length (an
/// argument of 100,000 characters stays readable).
pub fn shortened(s: &str) -> String {
    match s.char_indices().nth(200) {
        None => s.to_string(),
        Some((end, _)) => format!("{}… ({} characters)", &s[..end], s.chars().count()),
    }
}
