//! Configuration errors, phrased for the person who has to fix the file: each names the file and
//! the field (or the flag) and says what is allowed.

/// A configuration problem that stops start-up (exit code 2).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// A field's value is wrong.
    #[error("{file}: {field}: {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
    /// The file cannot be read or parsed as settings at all.
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// The default provider's key variable is not set.
    #[error(
        "provider '{provider}' needs an API key: set the environment variable {var} (configured as providers.{provider}.api_key_env in {file})"
    )]
    MissingApiKey {
        file: String,
        provider: String,
        var: String,
    },
}

impl ConfigError {
    pub fn field(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Field {
            file: file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A settings file that does not parse. The `config` crate puts the key path last
    /// ("… for key `providers.x.kind` in …"); it goes first here, like every other error.
    pub fn parse(file: &str, error: &config::ConfigError) -> Self {
        let text = error.to_string();
        if let Some((message, rest)) = text.split_once(" for key `")
            && let Some((field, _)) = rest.split_once('`')
        {
            return ConfigError::field(file, field, message.trim());
        }
        ConfigError::File {
            file: file.to_string(),
            message: text,
        }
    }
}
