//! The room registry: which call (and transfer) a LiveKit room belongs to, and where a call's
//! caller is now. Rooms are named by calls and transfers; this module only reads them.

pub mod store;

pub use store::{RoomOwner, current_caller_room, owner};
