package telephony

import (
	"errors"
	"fmt"
)

// Code classifies an Error for callers: web maps it to an HTTP status, the
// worker to retry or not.
type Code string

// Error codes.
const (
	EInvalid      Code = "invalid"      // the input breaks a rule; Field names it
	EConflict     Code = "conflict"     // unique value already taken; Field names it
	ENotFound     Code = "not_found"    // no such record in this tenant
	EUnauthorized Code = "unauthorized" // no or bad credentials
	EForbidden    Code = "forbidden"    // authenticated, but not allowed
	EInternal     Code = "internal"     // a bug or an outage; details are logged, not shown
	EUnavailable  Code = "unavailable"  // a dependency is down; try again
	ERateLimited  Code = "rate_limited" // too many requests
	ETooLarge     Code = "too_large"    // request body over the limit
	EPrecondition Code = "precondition" // refused unless forced (e.g. delete a responsible manager)
)

// Error is a domain error: what went wrong in words a user can act on, the
// field it is about, and a code. Packages below web return it; web renders
// it as {"error":{"code","message","field"}}.
type Error struct {
	Code    Code
	Field   string // JSON field name, empty when the error is about no one field
	Message string
	Err     error // the cause, for logs; never shown
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for other errors and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// IsNotFound reports whether err is an ENotFound error.
func IsNotFound(err error) bool { return ErrorCode(err) == ENotFound }

// Errors is a list of field errors found together, so a client can fix every
// field at once. It is itself an error of code EInvalid.
type Errors []*Error

func (es Errors) Error() string {
	msg := ""
	for i, e := range es {
		if i > 0 {
			msg += "; "
		}
		msg += e.Error()
	}
	return msg
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Add appends a field error.
func (es *Errors) Add(field, format string, args ...any) {
	*es = append(*es, Errorf(EInvalid, field, format, args...))
}
