// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AccountedMessages
/// @notice The wire format of the hub-accounted money market's messages (AccountedHub <-> AccountedSpoke) over
///         LayerZero V2: one fixed ABI tuple, as the reference protocol's Messages, so one codec reads both.
library AccountedMessages {
    /// spoke -> hub: tokens were deposited into the spoke's pool; credit the account on the hub.
    uint8 internal constant DEPOSIT = 1;
    /// hub -> spoke: the hub debited the account's collateral; pay `amount` from the pool to `receiver`.
    uint8 internal constant WITHDRAW = 2;

    struct Message {
        uint8 kind;
        address account;
        uint16 assetId;
        uint256 amount;
        /// WITHDRAW: who is paid on the spoke. Zero for a DEPOSIT.
        address receiver;
        /// WITHDRAW: the hub's withdrawal id. DEPOSIT: the spoke's deposit id.
        uint256 ref;
    }

    error UnknownMessageKind(uint8 kind);

    function encode(Message memory m) internal pure returns (bytes memory) {
        return abi.encode(m.kind, m.account, m.assetId, m.amount, m.receiver, m.ref);
    }

    function decode(bytes calldata data) internal pure returns (Message memory m) {
        (m.kind, m.account, m.assetId, m.amount, m.receiver, m.ref) =
            abi.decode(data, (uint8, address, uint16, uint256, address, uint256));
        if (m.kind == 0 || m.kind > WITHDRAW) revert UnknownMessageKind(m.kind);
    }
}
