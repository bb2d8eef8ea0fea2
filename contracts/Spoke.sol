// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import { OApp, Origin, MessagingFee, MessagingReceipt } from "@layerzerolabs/lz-evm-oapp-v2/contracts/oapp/OApp.sol";
import { Ownable } from "@openzeppelin/contracts/access/Ownable.sol";
import { ReentrancyGuard } from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { Messages } from "./Messages.sol";

/// @title Spoke
/// @notice Custody of collateral on one chain. Deposits are credited on the hub by a DEPOSIT message;
///         withdrawals are two-phase (request here, health check on the hub, release or reject back);
///         SEIZE messages from the hub pay liquidated collateral to the liquidator's receiver.
///         Only the hub, as this OApp's single peer, can send it messages.
contract Spoke is OApp, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using Messages for Messages.Message;

    uint32 public immutable hubEid;

    mapping(uint16 assetId => IERC20) public tokens;
    /// Collateral held for each account, as the spoke sees it (includes deposits the hub has not credited yet).
    mapping(address account => mapping(uint16 assetId => uint256)) public balances;
    /// Amounts under a withdraw request the hub has not answered.
    mapping(address account => mapping(uint16 assetId => uint256)) public pendingWithdrawals;
    uint256 public withdrawRequestCount;

    event AssetListed(uint16 indexed assetId, address token);
    event Deposited(address indexed account, uint16 indexed assetId, uint256 amount, uint256 balance, bytes32 guid);
    event WithdrawRequested(address indexed account, uint16 indexed assetId, uint256 amount, uint256 requestId, bytes32 guid);
    event WithdrawReleased(address indexed account, uint16 indexed assetId, uint256 amount, uint256 requestId, uint256 balance);
    event WithdrawRejected(address indexed account, uint16 indexed assetId, uint256 amount, uint256 requestId);
    event Seized(
        address indexed account, uint16 indexed assetId, address indexed receiver, uint256 amount, uint256 takeId, uint256 balance
    );

    error AssetNotListed(uint16 assetId);
    error ZeroAmount();
    error InsufficientAvailable(uint256 available, uint256 requested);

    constructor(address endpoint_, address owner_, uint32 hubEid_) OApp(endpoint_, owner_) Ownable(owner_) {
        hubEid = hubEid_;
    }

    function listAsset(uint16 assetId, IERC20 token) external onlyOwner {
        tokens[assetId] = token;
        emit AssetListed(assetId, address(token));
    }

    /// @notice Native fee of one spoke -> hub message (deposit or withdraw request).
    function quoteHubMessage() external view returns (uint256) {
        Messages.Message memory m = Messages.Message(Messages.DEPOSIT, address(0), 0, 0, address(0), 0);
        return _quote(hubEid, m.encode(), "", false).nativeFee;
    }

    /// @notice Deposits collateral; msg.value pays the LayerZero fee to the hub (excess refunded).
    function deposit(uint16 assetId, uint256 amount) external payable nonReentrant returns (bytes32 guid) {
        if (amount == 0) revert ZeroAmount();
        _token(assetId).safeTransferFrom(msg.sender, address(this), amount);
        uint256 balance = balances[msg.sender][assetId] += amount;
        guid = _sendToHub(Messages.Message(Messages.DEPOSIT, msg.sender, assetId, amount, address(0), 0));
        emit Deposited(msg.sender, assetId, amount, balance, guid);
    }

    /// @notice Asks the hub to release collateral; the tokens move only when the hub approves.
    function requestWithdraw(uint16 assetId, uint256 amount) external payable nonReentrant returns (uint256 requestId) {
        if (amount == 0) revert ZeroAmount();
        _token(assetId);
        uint256 available = availableOf(msg.sender, assetId);
        if (amount > available) revert InsufficientAvailable(available, amount);
        pendingWithdrawals[msg.sender][assetId] += amount;
        requestId = ++withdrawRequestCount;
        bytes32 guid =
            _sendToHub(Messages.Message(Messages.WITHDRAW_REQUEST, msg.sender, assetId, amount, address(0), requestId));
        emit WithdrawRequested(msg.sender, assetId, amount, requestId, guid);
    }

    function availableOf(address account, uint16 assetId) public view returns (uint256) {
        uint256 balance = balances[account][assetId];
        uint256 pending = pendingWithdrawals[account][assetId];
        return balance > pending ? balance - pending : 0;
    }

    function _sendToHub(Messages.Message memory m) internal returns (bytes32) {
        MessagingReceipt memory r = _lzSend(hubEid, m.encode(), "", MessagingFee(msg.value, 0), payable(msg.sender));
        return r.guid;
    }

    function _lzReceive(Origin calldata, bytes32, bytes calldata payload, address, bytes calldata) internal override {
        // OAppReceiver has already checked that the endpoint called and the sender is our peer (the hub).
        Messages.Message memory m = Messages.decode(payload);
        IERC20 token = _token(m.assetId);
        if (m.kind == Messages.SEIZE) {
            uint256 balance = balances[m.account][m.assetId] -= m.amount;
            token.safeTransfer(m.receiver, m.amount);
            emit Seized(m.account, m.assetId, m.receiver, m.amount, m.ref, balance);
        } else if (m.kind == Messages.WITHDRAW_RELEASE) {
            pendingWithdrawals[m.account][m.assetId] -= m.amount;
            uint256 balance = balances[m.account][m.assetId] -= m.amount;
            token.safeTransfer(m.account, m.amount);
            emit WithdrawReleased(m.account, m.assetId, m.amount, m.ref, balance);
        } else if (m.kind == Messages.WITHDRAW_REJECT) {
            pendingWithdrawals[m.account][m.assetId] -= m.amount;
            emit WithdrawRejected(m.account, m.assetId, m.amount, m.ref);
        } else {
            revert Messages.UnknownMessageKind(m.kind);
        }
    }

    function _token(uint16 assetId) internal view returns (IERC20 token) {
        token = tokens[assetId];
        if (address(token) == address(0)) revert AssetNotListed(assetId);
    }
}
