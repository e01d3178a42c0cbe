//! `calculator`: evaluates arithmetic safely (a small parser, no code execution), because models
//! are bad at exact arithmetic and an agent should not guess.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolRegistry};

pub fn register(registry: &mut ToolRegistry) {
    registry.register(
        "calculator",
        Arc::new(|args: &Value| match args {
            Value::Null => Ok(Arc::new(Calculator) as Arc<dyn Tool>),
            Value::Object(map) if map.is_empty() => Ok(Arc::new(Calculator) as Arc<dyn Tool>),
            _ => Err("args: calculator takes no settings".to_string()),
        }),
    );
}

pub struct Calculator;

#[derive(Deserialize, JsonSchema)]
struct CalculatorArgs {
    /// An arithmetic expression: numbers, + - * / % ^, parentheses, pi, e, and sqrt, abs, ln,
    /// log10, log2, exp, sin, cos, tan, asin, acos, atan, round, floor, ceil, min, max, pow.
    expression: String,
}

impl Tool for Calculator {
    fn name(&self) -> &str {
        "calculator"
    }
    fn description(&self) -> &str {
        "Evaluates an arithmetic expression exactly, e.g. \"(17.5 * 3) / 4\" or \"sqrt(2) ^ 2\". Use it instead of computing in your head."
    }
    fn parameters(&self) -> Value {
        super::builtins::schema_of::<CalculatorArgs>()
    }
    fn run<'a>(&'a self, args: Value, _ctx: &'a mut ToolContext<'_>) -> ToolFuture<'a> {
        Box::pin(async move {
            let args: CalculatorArgs =
                serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            let result = evaluate(&args.expression)?;
            Ok(json!({"expression": args.expression, "result": result}))
        })
    }
}

/// Evaluates `text`; the error says where and what is wrong.
pub fn evaluate(text: &str) -> Result<f64, String> {
    if text.len() > 1000 {
        return Err("expression too long (max 1000 characters)".into());
    }
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    parser.skip_spaces();
    if parser.pos < parser.chars.len() {
        return Err(format!(
            "unexpected '{}' at position {}",
            parser.chars[parser.pos],
            parser.pos + 1
        ));
    }
    if !value.is_finite() {
        return Err("the result is not a finite number (division by zero or overflow)".into());
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn skip_spaces(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_spaces();
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    // expression := term (('+' | '-') term)*
    fn expression(&mut self) -> Result<f64, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err("expression nested too deeply".into());
        }
        let mut value = self.term()?;
        loop {
            if self.eat('+') {
                value += self.term()?;
            } else if self.eat('-') {
                value -= self.term()?;
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(value)
    }

    // term := unary (('*' | '/' | '%') unary)*
    fn term(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        loop {
            if self.eat('*') {
                value *= self.unary()?;
            } else if self.eat('/') {
                value /= self.unary()?;
            } else if self.eat('%') {
                value %= self.unary()?;
            } else {
                break;
            }
        }
        Ok(value)
    }

    // unary := ('-' | '+') unary | power   (so -2^2 = -(2^2), as in mathematics)
    fn unary(&mut self) -> Result<f64, String> {
        if self.eat('-') {
            return Ok(-self.unary()?);
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    // power := primary ('^' unary)?   (right-associative: 2^3^2 = 2^9)
    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.eat('^') {
            let exponent = self.unary()?;
            return Ok(base.powf(exponent));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let value = self.expression()?;
                if !self.eat(')') {
                    return Err(format!("missing ')' at position {}", self.pos + 1));
                }
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.name(),
            Some(c) => Err(format!("unexpected '{c}' at position {}", self.pos + 1)),
            None => Err("the expression ends too early".into()),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
        {
            self.pos += 1;
        }
        if self
            .chars
            .get(self.pos)
            .is_some_and(|c| *c == 'e' || *c == 'E')
            && self
                .chars
                .get(self.pos + 1)
                .is_some_and(|c| c.is_ascii_digit() || *c == '-' || *c == '+')
        {
            self.pos += 2;
            while self.chars.get(self.pos).is_some_and(char::is_ascii_digit) {
                self.pos += 1;
            }
        }
        let text: String = self.chars[start..self.pos]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        text.parse()
            .map_err(|_| format!("'{text}' is not a number"))
    }

    fn name(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "pi" => return Ok(std::f64::consts::PI),
            "e" => return Ok(std::f64::consts::E),
            _ => {}
        }
        if !self.eat('(') {
            return Err(format!("unknown name '{name}'"));
        }
        let mut args = vec![self.expression()?];
        while self.eat(',') {
            args.push(self.expression()?);
        }
        if !self.eat(')') {
            return Err(format!("missing ')' after the arguments of {name}"));
        }
        let one = |f: fn(f64) -> f64| -> Result<f64, String> {
            match args.as_slice() {
                [x] => Ok(f(*x)),
                _ => Err(format!("{name} takes one argument")),
            }
        };
        match name.as_str() {
            "sqrt" => one(f64::sqrt),
            "abs" => one(f64::abs),
            "ln" => one(f64::ln),
            "log10" | "log" => one(f64::log10),
            "log2" => one(f64::log2),
            "exp" => one(f64::exp),
            "sin" => one(f64::sin),
            "cos" => one(f64::cos),
            "tan" => one(f64::tan),
            "asin" => one(f64::asin),
            "acos" => one(f64::acos),
            "atan" => one(f64::atan),
            "round" => one(f64::round),
            "floor" => one(f64::floor),
            "ceil" => one(f64::ceil),
            "min" | "max" if !args.is_empty() => Ok(args.iter().copied().fold(
                if name == "min" {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                },
                |a, b| if name == "min" { a.min(b) } else { a.max(b) },
            )),
            "pow" => match args.as_slice() {
                [x, y] => Ok(x.powf(*y)),
                _ => Err("pow takes two arguments".into()),
            },
            other => Err(format!("unknown function '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn arithmetic_precedence_functions_and_errors() {
        assert_eq!(evaluate("2 + 3 * 4").ok(), Some(14.0));
        assert_eq!(evaluate("(2 + 3) * 4").ok(), Some(20.0));
        assert_eq!(evaluate("2 ^ 3 ^ 2").ok(), Some(512.0));
        assert_eq!(evaluate("-2 ^ 2").ok(), Some(-4.0));
        assert_eq!(evaluate("2 ^ -1").ok(), Some(0.5));
        assert_eq!(
            evaluate("max(1, 7, 3) + sqrt(16) + 1_000").ok(),
            Some(1011.0)
        );
        assert_eq!(evaluate("1.5e3 / 3").ok(), Some(500.0));
        assert!(evaluate("1 / 0").is_err());
        assert!(evaluate("2 +").is_err());
        assert!(evaluate("system('rm')").is_err());
        assert!(
            evaluate("system(1)")
                .expect_err("refused")
                .contains("unknown function")
        );
        assert!(evaluate(&"(".repeat(500)).is_err());
    }
}
