// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Messages
/// @notice The wire format of every hub <-> spoke message carried by LayerZero V2.
/// @dev One fixed ABI tuple for every kind keeps the codec trivial to mirror in TypeScript
///      (src/protocol/messages.ts) and lets the relayer decode any payload without knowing its kind first.
library Messages {
    /// spoke -> hub: collateral was deposited on the spoke.
    uint8 internal constant DEPOSIT = 1;
    /// spoke -> hub: the account asks to withdraw; the hub decides.
    uint8 internal constant WITHDRAW_REQUEST = 2;
    /// hub -> spoke: the withdrawal keeps the account healthy; release the tokens.
    uint8 internal constant WITHDRAW_RELEASE = 3;
    /// hub -> spoke: the withdrawal was refused; unlock the pending amount.
    uint8 internal constant WITHDRAW_REJECT = 4;
    /// hub -> spoke: collateral was bought in a liquidation; pay it to the receiver.
    uint8 internal constant SEIZE = 5;

    struct Message {
        uint8 kind;
        address account;
        uint16 assetId;
        uint256 amount;
        /// SEIZE: who receives the collateral on the spoke. Zero for the other kinds.
        address receiver;
        /// WITHDRAW_*: the spoke's request id. SEIZE: the hub's take id. DEPOSIT: zero.
        uint256 ref;
    }

    error UnknownMessageKind(uint8 kind);

    function encode(Message memory m) internal pure returns (bytes memory) {
        return abi.encode(m.kind, m.account, m.assetId, m.amount, m.receiver, m.ref);
    }

    function decode(bytes calldata data) internal pure returns (Message memory m) {
        (m.kind, m.account, m.assetId, m.amount, m.receiver, m.ref) =
            abi.decode(data, (uint8, address, uint16, uint256, address, uint256));
        if (m.kind == 0 || m.kind > SEIZE) revert UnknownMessageKind(m.kind);
    }
}
