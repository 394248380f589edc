// Package display neutralises text from outside (a model's order title, an
// order subject, a gateway's answer) before it is shown to a person in a
// tool result, a question or a bot message: one line, no invisible
// characters, no Markdown or HTML a renderer would act on.
package display
