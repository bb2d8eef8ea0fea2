// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { OApp, Origin, MessagingFee, MessagingReceipt } from "@layerzerolabs/lz-evm-oapp-v2/contracts/oapp/OApp.sol";
import { Ownable } from "@openzeppelin/contracts/access/Ownable.sol";
import { ReentrancyGuard } from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { AccountedMessages } from "./AccountedMessages.sol";

/// @title AccountedSpoke
/// @notice A token pool on one chain of the hub-accounted money market. It keeps no accounts: a deposit pools
///         the tokens and credits the depositor on the hub by a DEPOSIT message; the hub alone decides who owns
///         what (deposits, withdrawals, liquidations all move hub balances), and a WITHDRAW message from the hub
///         pays from the pool. Only the hub, as this OApp's single peer, can send it messages.
contract AccountedSpoke is OApp, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using AccountedMessages for AccountedMessages.Message;

    uint32 public immutable hubEid;
    mapping(uint16 assetId => IERC20) public tokens;
    uint256 public depositCount;

    event AssetListed(uint16 indexed assetId, address token);
    event Deposited(address indexed account, uint16 indexed assetId, uint256 amount, uint256 depositId, bytes32 guid);
    event Withdrawn(uint256 indexed withdrawalId, address indexed account, uint16 indexed assetId, address receiver, uint256 amount);

    error AssetNotListed(uint16 assetId);
    error ZeroAmount();

    constructor(address endpoint_, address owner_, uint32 hubEid_) OApp(endpoint_, owner_) Ownable(owner_) {
        hubEid = hubEid_;
    }

    function listAsset(uint16 assetId, IERC20 token) external onlyOwner {
        tokens[assetId] = token;
        emit AssetListed(assetId, address(token));
    }

    /// @notice Native fee of one DEPOSIT message to the hub.
    function quoteDeposit() external view returns (uint256) {
        AccountedMessages.Message memory m = AccountedMessages.Message(AccountedMessages.DEPOSIT, address(0), 0, 0, address(0), 0);
        return _quote(hubEid, m.encode(), "", false).nativeFee;
    }

    /// @notice Pools `amount` and credits the caller on the hub; msg.value pays the LayerZero fee (excess refunded).
    function deposit(uint16 assetId, uint256 amount) external payable nonReentrant returns (bytes32 guid) {
        if (amount == 0) revert ZeroAmount();
        _token(assetId).safeTransferFrom(msg.sender, address(this), amount);
        uint256 depositId = ++depositCount;
        AccountedMessages.Message memory m =
            AccountedMessages.Message(AccountedMessages.DEPOSIT, msg.sender, assetId, amount, address(0), depositId);
        MessagingReceipt memory r = _lzSend(hubEid, m.encode(), "", MessagingFee(msg.value, 0), payable(msg.sender));
        guid = r.guid;
        emit Deposited(msg.sender, assetId, amount, depositId, guid);
    }

    function _lzReceive(Origin calldata, bytes32, bytes calldata payload, address, bytes calldata) internal override {
        // OAppReceiver has checked that the endpoint called and that the sender is our peer (the hub); the
        // endpoint delivers each nonce once, so a WITHDRAW pays once.
        AccountedMessages.Message memory m = AccountedMessages.decode(payload);
        if (m.kind != AccountedMessages.WITHDRAW) revert AccountedMessages.UnknownMessageKind(m.kind);
        _token(m.assetId).safeTransfer(m.receiver, m.amount);
        emit Withdrawn(m.ref, m.account, m.assetId, m.receiver, m.amount);
    }

    function _token(uint16 assetId) internal view returns (IERC20 token) {
        token = tokens[assetId];
        if (address(token) == address(0)) revert AssetNotListed(assetId);
    }
}
